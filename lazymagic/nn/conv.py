"""Convolutions (NCW and NCHW layouts), as BLAS products over strided views."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .. import init as _init
from ..engine.block import Block, Context, Plan, layer_error
from ..engine.shapes import (
    Shape,
    format_shape,
    window_arithmetic,
    window_output,
    window_size,
)
from ..errors import InvalidValueError
from .activations import ELEMENTWISE, activate, check_activation, prescale
from .dense import check_flag, check_size

AXES = ("width",), ("height", "width")
# How many bytes of the column matrix a convolution builds before multiplying.
COLUMN_BYTES = 1 << 22

_scratch = threading.local()


def workspace(size: int, dtype: np.dtype) -> np.ndarray:
    """A flat scratch array of ``size`` values, reused by this thread's calls.

    A fresh column matrix on every call would be faulted in page by page each time
    (the allocator hands large freed blocks back to the system); one this size is
    kept per thread, up to twice ``COLUMN_BYTES``.
    """
    nbytes = size * dtype.itemsize
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        if nbytes <= 2 * COLUMN_BYTES:
            _scratch.buffer = buffer
    return buffer[:nbytes].view(dtype)


def as_tuple(value: int | Sequence[int], nd: int, what: str, owner: str) -> tuple:
    """Accept an int or a tuple of ``nd`` ints."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return (int(value),) * nd
    try:
        items = tuple(value)  # type: ignore[arg-type]
    except TypeError:
        items = ()
    if len(items) != nd or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) for v in items
    ):
        raise InvalidValueError(
            f"{owner} needs {what} as an int or a tuple of {nd} ints, got {value!r}."
        )
    return tuple(int(v) for v in items)


def check_spatial_sizes(layer: Block, shape: Shape, verb: str) -> None:
    """Refuse an input with a spatial size of 0, naming the axis."""
    spatial = shape[2:]
    if 0 not in spatial:
        return
    i = spatial.index(0)
    axis = AXES[len(spatial) - 1][i] if len(spatial) <= 2 else f"axis {i + 2}"
    raise layer_error(
        layer,
        f"received an input of {axis} 0 (shape {format_shape(shape)}); a spatial "
        f"size of 0 leaves nothing to {verb}.",
        "No parameter was changed. An image or signal needs at least one value "
        "along each spatial axis; check how the input was cut or reshaped.",
    )


def output_sizes(
    layer: Block,
    shape: Shape,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
) -> tuple:
    """The spatial output sizes, or a ShapeError showing the arithmetic."""
    # Padding would otherwise make windows of padding alone.
    check_spatial_sizes(layer, shape, "slide a window over")
    nd = len(kernel)
    sizes = []
    for i in range(nd):
        n = shape[2 + i]
        axis = AXES[nd - 1][i]
        out = window_output(n, kernel[i], stride[i], padding[i], dilation[i])
        if isinstance(out, int) and out <= 0 and isinstance(n, int):
            arithmetic = window_arithmetic(
                n, kernel[i], stride[i], padding[i], dilation[i]
            )
            raise layer_error(
                layer,
                f"would make an output of {axis} {out} from an input of {axis} {n} "
                f"(input shape {format_shape(shape)}): {arithmetic}.",
                "No parameter was changed. The window is larger than the padded "
                "input: use a smaller kernel or stride, more padding, or a larger "
                "input.",
            )
        sizes.append(out)
    return tuple(sizes)


def check_rank(layer: Block, shape: Shape, nd: int) -> None:
    layout = (
        "(batch, channels, width)" if nd == 1 else "(batch, channels, height, width)"
    )
    if len(shape) != nd + 2:
        raise layer_error(
            layer,
            f"expects a {nd + 2}-D input {layout}; it got {len(shape)}-D, shape "
            f"{format_shape(shape)}.",
            "Reshape the input to that layout (add the channel axis with "
            "X[:, None] for one channel).",
        )


def windows(
    x: np.ndarray,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    out: tuple[int, ...],
) -> np.ndarray:
    """A read-only view (N, C, *out, *kernel) of every window of ``x``; no copy."""
    nd = len(kernel)
    s = x.strides
    spatial = s[2:]
    shape = (*x.shape[:2], *out, *kernel)
    strides = (
        *s[:2],
        *(spatial[i] * stride[i] for i in range(nd)),
        *(spatial[i] * dilation[i] for i in range(nd)),
    )
    return as_strided(x, shape, strides, writeable=False)


def pad(x: np.ndarray, padding: tuple[int, ...], value: float = 0.0) -> np.ndarray:
    if not any(padding):
        return x
    widths = [(0, 0), (0, 0)] + [(p, p) for p in padding]
    return np.pad(x, widths, constant_values=value)


class _Conv(Block):
    nd = 2

    def __init__(
        self,
        channels: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        activation: str | None = None,
        use_bias: bool = True,
        in_channels: int | None = None,
        weight_initializer: _init.Initializer | str | None = None,
        bias_initializer: _init.Initializer | str | None = None,
        *,
        label: str | None = None,
        share: Block | None = None,
    ) -> None:
        super().__init__(label=label, share=share)
        owner = type(self).__name__
        nd = self.nd
        check_size(channels, "channels", owner)
        check_size(groups, "groups", owner)
        check_size(in_channels, "in_channels", owner, allow_none=True)
        self.channels = int(channels)
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", owner)
        self.strides = as_tuple(strides, nd, "strides", owner)
        self.padding = as_tuple(padding, nd, "padding", owner)
        self.dilation = as_tuple(dilation, nd, "dilation", owner)
        for what, values in (
            ("kernel_size", self.kernel_size),
            ("strides", self.strides),
            ("dilation", self.dilation),
        ):
            if min(values) < 1:
                raise InvalidValueError(
                    f"{owner} needs {what} of at least 1, got {values}."
                )
        if min(self.padding) < 0:
            raise InvalidValueError(f"{owner} needs padding of at least 0.")
        self.groups = int(groups)
        if self.channels % self.groups:
            raise InvalidValueError(
                f"{owner} has {channels} channels, which {groups} groups cannot "
                "split evenly; make channels a multiple of groups."
            )
        if in_channels is not None and in_channels % self.groups:
            raise InvalidValueError(
                f"{owner} has in_channels={in_channels}, which {groups} groups "
                "cannot split evenly."
            )
        self.activation = check_activation(activation)
        per_group = None if in_channels is None else in_channels // self.groups
        hint = ("in_channels=3", "3, 32, 32" if nd == 2 else "3, 100")
        kernel_names = tuple(f"k{i}" for i in range(nd))
        self.weight = self._declare(
            "weight",
            (self.channels, per_group, *self.kernel_size),
            _init.parse(weight_initializer),
            ("channels", "in_channels", *kernel_names),
            hint,
        )
        self.bias = None
        if check_flag(use_bias, "use_bias", owner):
            self.bias = self._declare(
                "bias",
                (self.channels,),
                _init.parse(bias_initializer) or _init.Zero(),
                ("channels",),
                hint,
            )

    @property
    def in_channels(self) -> int | None:
        per_group = self.weight.shape[1]
        return None if per_group is None else per_group * self.groups

    def describe(self) -> str:
        k = self.kernel_size
        text = (
            f"conv{self.nd}d {self.channels} kernel={k[0] if len(set(k)) == 1 else k}"
        )
        s = self.strides
        if any(step != 1 for step in s):
            text += f" stride={s[0] if len(set(s)) == 1 else s}"
        return text

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        check_rank(self, shape, self.nd)
        channels = shape[1]
        if channels == 0:
            raise layer_error(
                self,
                "received an input with zero channels.",
                "A convolution needs at least one input channel; check the input.",
            )
        if isinstance(channels, int) and channels % self.groups:
            raise layer_error(
                self,
                f"received {channels} input channels, which its {self.groups} groups "
                "cannot split evenly.",
                "No parameter was changed. Give it a channel count divisible by "
                "groups.",
            )
        per_group = channels // self.groups if isinstance(channels, int) else None
        out = output_sizes(
            self, shape, self.kernel_size, self.strides, self.padding, self.dilation
        )

        def mismatch(known, new) -> str:
            how = (
                "was materialized"
                if self.weight.state == "materialized"
                else ("was declared")
            )
            return (
                f"{self.where()} {how} for {known[1] * self.groups} input channels; "
                f"this input has {channels} (shape {format_shape(shape)}).\n"
                f"No parameter was changed. Pass inputs with {known[1] * self.groups} "
                "channels, or declare a new net."
            )

        plan.fill(
            self, self.weight, (self.channels, per_group, *self.kernel_size), mismatch
        )
        if self.bias is not None:
            plan.fill(self, self.bias, (self.channels,))
        return (shape[0], self.channels, *out)

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        w = self.weight.live
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        nd, n = self.nd, x.shape[0]
        k, s, d = self.kernel_size, self.strides, self.dilation
        out = tuple(
            window_size(x.shape[2 + i], k[i], s[i], self.padding[i], d[i])
            for i in range(nd)
        )
        if self.groups != 1:
            return self._forward_grouped(x, out)
        if nd == 2 and s == (1, 1):
            return self._forward_wide(x, out)
        # Channels lead in memory, so the product's (channels, batch, ...) result
        # is already the next layer's channels-first input; it is returned as a
        # (batch, channels, ...) view, no copy.
        xt = pad(np.moveaxis(x, 1, 0), self.padding)
        c = xt.shape[0]
        depth, spots = c * math.prod(k), math.prod(out)
        # Every window of a block of examples as one read-only view, laid out as
        # the column matrix's rows (channel, kernel offset) by columns (example,
        # output position): one copy builds the block's columns.
        st = xt.strides
        spatial = st[2:]
        taps = tuple(spatial[i] * d[i] for i in range(nd))
        moves = tuple(spatial[i] * s[i] for i in range(nd))

        def gather(cols: np.ndarray, start: int, b: int) -> None:
            shape = (c, *k, b, *out)
            strides = (st[0], *taps, st[1], *moves)
            view = as_strided(xt[:, start:], shape, strides, writeable=False)
            np.copyto(cols.reshape(shape), view)

        y, elementwise = self._blocked_product(n, depth, spots, x.dtype, gather)
        y = np.moveaxis(y.reshape(self.channels, n, *out), 0, 1)
        return y if elementwise else activate(y, self.activation)

    def _blocked_product(
        self,
        n: int,
        depth: int,
        spots: int,
        dtype: np.dtype,
        gather: Callable[[np.ndarray, int, int], None],
    ) -> tuple[np.ndarray, bool]:
        """Multiply the weights by the column matrix, ``depth`` rows by ``n·spots``.

        The column matrix is gathered (by ``gather(cols, start, count)``) and
        multiplied a few examples at a time, so that the product finds it still in
        cache, and so does an element-wise activation after it. The bias rides in
        the product as one more column of weights against a row of ones, and an
        activation's leading constant factor is folded into the weights, which
        saves two passes over the output. Returns ``(channels, n, spots)`` and
        whether the activation was applied.
        """
        elementwise = self.activation in ELEMENTWISE
        weights = self.weight.live.reshape(self.channels, depth)
        rows = depth
        if self.bias is not None:
            weights = np.concatenate([weights, self.bias.live[:, None]], axis=1)
            rows += 1
        scale = prescale(self.activation) if elementwise else 1.0
        if scale != 1.0:
            weights = weights * dtype.type(scale)
        y = np.empty((self.channels, n, spots), dtype=dtype)
        step = max(1, min(n, COLUMN_BYTES // max(1, rows * spots * dtype.itemsize)))
        buffer = workspace(rows * step * spots, dtype)
        for start in range(0, n, step):
            b = min(step, n - start)
            cols = buffer[: rows * b * spots]
            gather(cols[: depth * b * spots], start, b)
            if rows > depth:
                cols[depth * b * spots :] = 1
            part = y[:, start : start + b].reshape(self.channels, b * spots)  # a view
            np.matmul(weights, cols.reshape(rows, b * spots), out=part)
            if elementwise:
                activate(part, self.activation, prescaled=scale != 1.0)
        return y, elementwise

    def _forward_wide(self, x: np.ndarray, out: tuple[int, ...]) -> np.ndarray:
        """A stride-1 2-D convolution computed over whole padded rows.

        Every output row is computed at all ``wp`` positions of the padded width,
        not only the ``wo`` valid ones. A kernel tap then reads each image as one
        contiguous run of ``ho·wp`` values, so gathering the column matrix copies
        long runs instead of rows of ``wo``; the ``wp - wo`` extra columns per row
        (more arithmetic, the price) are dropped from the result as a view.
        """
        n, c = x.shape[:2]
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation
        (ph, pw), (ho, wo) = self.padding, out
        hp, wp = x.shape[2] + 2 * ph, x.shape[3] + 2 * pw
        span, depth = ho * wp, c * kh * kw
        # Channels first, padded, and each image followed by (kw-1)·dw zeros so
        # that the last tap's run stays inside its image.
        flat = np.zeros((c, n, hp * wp + (kw - 1) * dw), dtype=x.dtype)
        images = flat[:, :, : hp * wp].reshape(c, n, hp, wp)
        images[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]] = np.moveaxis(x, 1, 0)

        item = x.dtype.itemsize
        steps = (flat.strides[0], dh * wp * item, dw * item, flat.strides[1], item)

        def gather(cols: np.ndarray, start: int, b: int) -> None:
            # Row (channel, i, j) of an example is the run starting at tap (i, j).
            shape = (c, kh, kw, b, span)
            view = as_strided(flat[:, start:], shape, steps, writeable=False)
            np.copyto(cols.reshape(shape), view)

        y, elementwise = self._blocked_product(n, depth, span, x.dtype, gather)
        y4 = np.moveaxis(y.reshape(self.channels, n, ho, wp)[..., :wo], 0, 1)
        return y4 if elementwise else activate(y4, self.activation)

    def _forward_grouped(self, x: np.ndarray, out: tuple[int, ...]) -> np.ndarray:
        """Each group's product, a few examples at a time.

        The einsum copies the windows it multiplies (k_h·k_w values per input
        value), so examples go through in blocks of about ``COLUMN_BYTES`` of
        windows, as in the ungrouped path, not all at once.
        """
        w = self.weight.live
        nd, n, g = self.nd, x.shape[0], self.groups
        win = windows(
            pad(x, self.padding), self.kernel_size, self.strides, self.dilation, out
        )
        cg = x.shape[1] // g
        wg = w.reshape(g, self.channels // g, cg, *self.kernel_size)
        wing = win.reshape(n, g, cg, *out, *self.kernel_size)
        spatial = "hw"[:nd]
        kern = "ij"[:nd]
        formula = f"ngc{spatial}{kern},goc{kern}->ngo{spatial}"
        y = np.empty((n, self.channels, *out), dtype=x.dtype)
        grouped = y.reshape(n, g, self.channels // g, *out)  # a view
        per_example = x.shape[1] * math.prod(out) * math.prod(self.kernel_size)
        step = max(1, COLUMN_BYTES // max(1, per_example * x.dtype.itemsize))
        for start in range(0, n, step):
            block = slice(start, start + step)
            np.einsum(formula, wing[block], wg, out=grouped[block], optimize=True)
        if self.bias is not None:
            y += self.bias.live.reshape(-1, *([1] * nd))
        return activate(y, self.activation)

    def __repr__(self) -> str:
        c_in = "?" if self.in_channels is None else self.in_channels
        k = self.kernel_size
        extra = ""
        if any(s != 1 for s in self.strides):
            extra += f", stride={self.strides}"
        if any(self.padding):
            extra += f", padding={self.padding}"
        if self.groups != 1:
            extra += f", groups={self.groups}"
        act = f", {self.activation}" if self.activation else ""
        name = type(self).__name__
        return f"{name}({c_in} -> {self.channels}, kernel_size={k}{extra}{act})"


class Conv1D(_Conv):
    """1-D convolution over (batch, channels, width); weight ``(channels,
    in_channels/groups, k)``."""

    kind = "conv1d"
    nd = 1


class Conv2D(_Conv):
    """2-D convolution over (batch, channels, height, width); weight ``(channels,
    in_channels/groups, kh, kw)``.

    Args:
        channels: output channels.
        kernel_size, strides, padding, dilation: an int or a (height, width) pair.
        groups: split the channels into groups convolved separately.
        in_channels: input channels, unknown until data or ``infer_shape`` tells,
            unless given.
    """

    kind = "conv2d"
    nd = 2
