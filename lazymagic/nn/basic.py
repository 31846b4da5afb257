"""Flatten, Dropout and Embedding."""

from __future__ import annotations

import numpy as np

from .. import init as _init
from ..engine.block import Block, Context, Plan, layer_error
from ..engine.shapes import Shape, format_shape, multiply
from ..errors import InvalidValueError
from .dense import check_size


class Flatten(Block):
    """Keep the batch axis and flatten the rest: (N, C, H, W) → (N, C·H·W)."""

    kind = "flatten"

    def __init__(self, *, label: str | None = None, share: Block | None = None) -> None:
        super().__init__(label=label, share=share)

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        if len(shape) < 1:
            raise layer_error(self, "expects a batch axis.", "Pass a batch of inputs.")
        out = (shape[0], multiply(shape[1:]))
        plan.flattened = (out, tuple(shape[1:]))
        return out

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        # Explicit sizes: reshape(0, -1) cannot tell the row length of an empty batch.
        return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))

    def __repr__(self) -> str:
        return "Flatten()"


class Dropout(Block):
    """In training, zero each value with probability ``rate`` and scale the rest by
    ``1 / (1 - rate)``; outside training, pass the input through."""

    kind = "dropout"

    def __init__(
        self, rate: float, *, label: str | None = None, share: Block | None = None
    ) -> None:
        super().__init__(label=label, share=share)
        if (
            isinstance(rate, bool)
            or not isinstance(rate, int | float)
            or not (0 <= rate < 1)
        ):
            raise InvalidValueError(
                f"Dropout needs a rate in [0, 1), got {rate!r}; 0.5 drops half."
            )
        self.rate = float(rate)

    def describe(self) -> str:
        return f"dropout {self.rate:g}"

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        return shape

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        if not ctx.training or self.rate == 0:
            return x
        keep = ctx.rng.random(x.shape, dtype=np.float32) >= self.rate
        scale = np.asarray(1.0 / (1.0 - self.rate), dtype=x.dtype)
        return x * keep * scale

    def __repr__(self) -> str:
        return f"Dropout(rate={self.rate:g})"


class Embedding(Block):
    """Look up a vector per integer index: weight ``(input_dim, output_dim)``.

    Indices outside ``[0, input_dim)`` are an error (never NumPy's wrap-around).
    """

    kind = "embedding"

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        weight_initializer: _init.Initializer | str | None = None,
        *,
        label: str | None = None,
        share: Embedding | None = None,
    ) -> None:
        super().__init__(label=label, share=share)
        check_size(input_dim, "input_dim", "Embedding")
        check_size(output_dim, "output_dim", "Embedding")
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.weight = self._declare(
            "weight",
            (self.input_dim, self.output_dim),
            _init.parse(weight_initializer),
            ("input_dim", "output_dim"),
        )

    def describe(self) -> str:
        return f"embedding {self.input_dim} {self.output_dim}"

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        plan.fill(self, self.weight, (self.input_dim, self.output_dim))
        return (*shape, self.output_dim)

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        if x.dtype.kind == "b":
            raise layer_error(
                self,
                "received booleans as indices, which would select rows "
                "instead of looking them up.",
                "Pass integer token ids, e.g. X.astype(np.int64).",
            )
        if x.dtype.kind == "f":
            if x.size and not np.all(np.isfinite(x) & (x == np.round(x))):
                raise layer_error(
                    self,
                    "received indices that are not whole numbers.",
                    "Pass integer token ids, e.g. X.astype(np.int64).",
                )
            x = x.astype(np.int64)
        if x.size:
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                where = tuple(int(i) for i in np.argwhere(x == bad)[0])
                raise layer_error(
                    self,
                    f"received index {bad} at position {where} of an input of shape "
                    f"{format_shape(x.shape)}; its vocabulary holds indices 0 to "
                    f"{self.input_dim - 1}.",
                    "No parameter was changed. Map unknown tokens to an index below "
                    f"{self.input_dim}, or make input_dim larger.",
                )
        return self.weight.live[x]

    def __repr__(self) -> str:
        return f"Embedding({self.input_dim} -> {self.output_dim})"
