"""Batch and layer normalization."""

from __future__ import annotations

import numpy as np

from .. import init as _init
from ..engine.block import Block, Context, Plan, layer_error
from ..engine.shapes import Shape, format_shape
from ..errors import InvalidValueError
from .dense import check_flag, check_size


class BatchNorm(Block):
    """Normalize each channel (axis 1) by batch statistics in training, by the
    running statistics otherwise.

    Parameters ``gamma`` (ones), ``beta`` (zeros), ``running_mean`` (zeros) and
    ``running_var`` (ones) all have shape ``(in_channels,)`` and go through the
    three states like any other. The running statistics change only in training:
    ``running = momentum · running + (1 - momentum) · batch``; the batch variance is
    the biased one for normalizing and the unbiased one for the running value.
    """

    kind = "batchnorm"

    def __init__(
        self,
        axis: int = 1,
        momentum: float = 0.9,
        epsilon: float = 1e-5,
        center: bool = True,
        scale: bool = True,
        in_channels: int | None = None,
        gamma_initializer: _init.Initializer | str | None = None,
        beta_initializer: _init.Initializer | str | None = None,
        running_mean_initializer: _init.Initializer | str | None = None,
        running_variance_initializer: _init.Initializer | str | None = None,
        *,
        label: str | None = None,
        share: BatchNorm | None = None,
    ) -> None:
        super().__init__(label=label, share=share)
        check_size(in_channels, "in_channels", "BatchNorm", allow_none=True)
        if not 0 <= momentum < 1:
            raise InvalidValueError(
                f"BatchNorm momentum must be in [0, 1), got {momentum}."
            )
        if not epsilon > 0:
            raise InvalidValueError(
                f"BatchNorm epsilon must be positive, got {epsilon}."
            )
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = check_flag(center, "center", type(self).__name__)
        self.scale = check_flag(scale, "scale", type(self).__name__)
        shape = (in_channels,)
        names = ("in_channels",)
        hint = ("in_channels=16", "16, 8, 8")
        self.gamma = self._declare(
            "gamma", shape, _init.parse(gamma_initializer) or _init.One(), names, hint
        )
        self.beta = self._declare(
            "beta", shape, _init.parse(beta_initializer) or _init.Zero(), names, hint
        )
        self.running_mean = self._declare(
            "running_mean",
            shape,
            _init.parse(running_mean_initializer) or _init.Zero(),
            names,
            hint,
        )
        self.running_var = self._declare(
            "running_var",
            shape,
            _init.parse(running_variance_initializer) or _init.One(),
            names,
            hint,
        )

    def _channels(self, shape: Shape) -> int | str | None:
        axis = self.axis if self.axis >= 0 else len(shape) + self.axis
        if not 0 <= axis < len(shape) or len(shape) < 2:
            raise layer_error(
                self,
                f"normalizes axis {self.axis}, but its input has shape "
                f"{format_shape(shape)}.",
                "Give it a batch with a channel axis, e.g. (batch, channels, ...).",
            )
        return shape[axis]

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        channels = self._channels(shape)

        def mismatch(known, new) -> str:
            return (
                f"{self.where()} has statistics for {known[0]} channels; this input "
                f"has {channels} on axis {self.axis} (shape {format_shape(shape)}).\n"
                "No parameter was changed. Check the layer before it."
            )

        for p in (self.gamma, self.beta, self.running_mean, self.running_var):
            plan.fill(self, p, (channels,), mismatch)
        return shape

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        dtype = self.gamma.live.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        axis = self.axis % x.ndim
        view = [1] * x.ndim
        view[axis] = -1
        others = tuple(i for i in range(x.ndim) if i != axis)
        if ctx.training:
            if x.size == 0:
                raise layer_error(
                    self,
                    f"received an empty batch (shape {format_shape(x.shape)}) in "
                    "training, and batch statistics need at least one value per "
                    "channel.",
                    "No parameter was changed. Pass a batch with at least one row, "
                    "or call the net with training=False.",
                )
            mean = x.mean(axis=others, dtype=dtype)
            var = x.var(axis=others, dtype=dtype)
            count = x.size // max(x.shape[axis], 1)
            unbiased = var * (count / max(count - 1, 1))
            m = self.momentum
            ctx.defer_write(
                self.running_mean.live, m * self.running_mean.live + (1 - m) * mean
            )
            ctx.defer_write(
                self.running_var.live, m * self.running_var.live + (1 - m) * unbiased
            )
        else:
            mean, var = self.running_mean.live, self.running_var.live
        y = (x - mean.reshape(view)) / np.sqrt(
            var.reshape(view) + dtype.type(self.epsilon)
        )
        if self.scale:
            y *= self.gamma.live.reshape(view)
        if self.center:
            y += self.beta.live.reshape(view)
        return y

    def __repr__(self) -> str:
        c = self.gamma.shape[0]
        return f"BatchNorm(axis={self.axis}, in_channels={'?' if c is None else c})"


class LayerNorm(Block):
    """Normalize each example over its last axis, then scale and shift.

    ``gamma`` (ones) and ``beta`` (zeros) have shape ``(in_channels,)``, the size
    of the last axis.
    """

    kind = "layernorm"

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-5,
        center: bool = True,
        scale: bool = True,
        in_channels: int | None = None,
        gamma_initializer: _init.Initializer | str | None = None,
        beta_initializer: _init.Initializer | str | None = None,
        *,
        label: str | None = None,
        share: LayerNorm | None = None,
    ) -> None:
        super().__init__(label=label, share=share)
        if axis != -1:
            # Limitation: only the last axis is normalized, as in most uses.
            raise NotImplementedError(
                "LayerNorm normalizes the last axis only; move the axis last with "
                "np.moveaxis before the net."
            )
        check_size(in_channels, "in_channels", "LayerNorm", allow_none=True)
        self.axis = axis
        self.epsilon = float(epsilon)
        self.center = check_flag(center, "center", type(self).__name__)
        self.scale = check_flag(scale, "scale", type(self).__name__)
        hint = ("in_channels=64", "64")
        self.gamma = self._declare(
            "gamma",
            (in_channels,),
            _init.parse(gamma_initializer) or _init.One(),
            ("in_channels",),
            hint,
        )
        self.beta = self._declare(
            "beta",
            (in_channels,),
            _init.parse(beta_initializer) or _init.Zero(),
            ("in_channels",),
            hint,
        )

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        if len(shape) < 2:
            raise layer_error(
                self,
                f"expects a batch of inputs, at least 2-D; it got shape "
                f"{format_shape(shape)}.",
                "Add a batch axis, e.g. X.reshape(1, -1).",
            )

        def mismatch(known, new) -> str:
            return (
                f"{self.where()} normalizes {known[0]} features; this input has "
                f"{shape[-1]} on its last axis (shape {format_shape(shape)}).\n"
                "No parameter was changed. Check the layer before it."
            )

        plan.fill(self, self.gamma, (shape[-1],), mismatch)
        plan.fill(self, self.beta, (shape[-1],), mismatch)
        return shape

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        dtype = self.gamma.live.dtype
        if x.dtype != dtype:
            x = x.astype(dtype)
        mean = x.mean(axis=-1, keepdims=True, dtype=dtype)
        var = x.var(axis=-1, keepdims=True, dtype=dtype)
        y = (x - mean) / np.sqrt(var + dtype.type(self.epsilon))
        if self.scale:
            y *= self.gamma.live
        if self.center:
            y += self.beta.live
        return y

    def __repr__(self) -> str:
        c = self.gamma.shape[0]
        return f"LayerNorm(in_channels={'?' if c is None else c})"
