"""Max and average pooling over strided views, and global average pooling."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..engine.block import Block, Context, Plan, layer_error
from ..engine.shapes import Shape, format_shape, window_size
from ..errors import InvalidValueError
from .conv import as_tuple, check_rank, check_spatial_sizes, output_sizes, pad


class _Pool(Block):
    nd = 2
    op = "max"

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        *,
        label: str | None = None,
        share: Block | None = None,
    ) -> None:
        super().__init__(label=label, share=share)
        owner = type(self).__name__
        self.pool_size = as_tuple(pool_size, self.nd, "pool_size", owner)
        # As in Gluon, the stride defaults to the pool size.
        self.strides = as_tuple(
            self.pool_size if strides is None else strides, self.nd, "strides", owner
        )
        self.padding = as_tuple(padding, self.nd, "padding", owner)
        if min(self.pool_size + self.strides) < 1 or min(self.padding) < 0:
            raise InvalidValueError(
                f"{owner} needs pool_size and strides of at least 1 and padding of "
                "at least 0."
            )
        if any(2 * p > k for p, k in zip(self.padding, self.pool_size, strict=True)):
            raise InvalidValueError(
                f"{owner} has padding {self.padding} larger than half its pool size "
                f"{self.pool_size}; windows would hold only padding."
            )

    def describe(self) -> str:
        k = self.pool_size
        return f"{self.kind} kernel={k[0] if len(set(k)) == 1 else k}"

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        check_rank(self, shape, self.nd)
        ones = (1,) * self.nd
        out = output_sizes(
            self, shape, self.pool_size, self.strides, self.padding, ones
        )
        return (shape[0], shape[1], *out)

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        nd, k, s = self.nd, self.pool_size, self.strides
        out = tuple(
            window_size(x.shape[2 + i], k[i], s[i], self.padding[i]) for i in range(nd)
        )
        combine: np.ufunc
        given = x.dtype
        if self.op == "max":
            combine = np.maximum
            if given.kind == "f":
                fill: Any = -np.inf
            else:  # bool's maximum is "any", and False never wins
                fill = False if given.kind == "b" else np.iinfo(given).min
        else:
            # Padding counts in the average, as in Gluon's default. Sums of
            # half-precision values overflow at 65504, so they add in float32.
            fill, combine = 0.0, np.add
            if given.kind != "f" or given.itemsize < 4:
                x = x.astype(np.float32)
        x = pad(x, self.padding, fill)
        # Both reductions are separable: combine along one axis at a time, each
        # step a few strided views combined element-wise. That reads k_h + k_w
        # values per output instead of k_h·k_w, and the first step, along the
        # height, runs over whole rows, where NumPy's loops are fastest.
        result = x
        for axis in range(nd):
            dim = result.ndim - nd + axis
            taps = []
            for o in range(k[axis]):
                window: list[Any] = [slice(None)] * result.ndim
                window[dim] = slice(o, o + s[axis] * (out[axis] - 1) + 1, s[axis])
                taps.append(result[tuple(window)])
            if len(taps) == 1:
                result = taps[0]
                continue
            result = combine(taps[0], taps[1])
            for tap in taps[2:]:
                combine(result, tap, out=result)
        if math.prod(k) == 1:  # only a strided selection, still a view of x
            result = result.copy()
        if self.op != "max":
            result *= result.dtype.type(1 / math.prod(k))
            if given.kind == "f" and result.dtype != given:
                result = result.astype(given)
        return result

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(pool_size={self.pool_size}, "
            f"strides={self.strides}, padding={self.padding})"
        )


class MaxPool1D(_Pool):
    """Largest value in each window, over (batch, channels, width)."""

    kind = "maxpool1d"
    nd = 1


class MaxPool2D(_Pool):
    """Largest value in each window, over (batch, channels, height, width)."""

    kind = "maxpool2d"
    nd = 2


class AvgPool1D(_Pool):
    """Mean of each window, over (batch, channels, width)."""

    kind = "avgpool1d"
    nd = 1
    op = "avg"


class AvgPool2D(_Pool):
    """Mean of each window, over (batch, channels, height, width)."""

    kind = "avgpool2d"
    nd = 2
    op = "avg"


class GlobalAvgPool(Block):
    """Mean over every spatial axis, keeping them as size 1: (N, C, ...) → (N, C, 1...).

    Works on NCW and NCHW alike; ``GlobalAvgPool2D`` and ``GlobalAvgPool1D`` also
    check the rank.
    """

    kind = "globalavgpool"
    nd: int | None = None

    def __init__(self, *, label: str | None = None, share: Block | None = None) -> None:
        super().__init__(label=label, share=share)

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        if self.nd is not None:
            check_rank(self, shape, self.nd)
        elif len(shape) < 3:
            raise layer_error(
                self,
                f"expects an input with channels and at least one spatial axis, "
                f"(batch, channels, ...); it got shape {format_shape(shape)}.",
                "Use it after convolutions, before flatten.",
            )
        check_spatial_sizes(self, shape, "average")
        return (shape[0], shape[1], *([1] * (len(shape) - 2)))

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        return x.mean(axis=tuple(range(2, x.ndim)), keepdims=True, dtype=x.dtype)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GlobalAvgPool1D(GlobalAvgPool):
    nd = 1


class GlobalAvgPool2D(GlobalAvgPool):
    nd = 2
