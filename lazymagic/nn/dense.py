"""The fully connected layer."""

from __future__ import annotations

import math

import numpy as np

from .. import init as _init
from ..engine.block import Block, Context, Plan, layer_error
from ..engine.shapes import Shape, format_shape, multiply
from ..errors import InvalidValueError
from .activations import activate, check_activation


def check_size(value: object, what: str, owner: str, allow_none: bool = False) -> None:
    """Raise unless ``value`` is a positive int (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InvalidValueError(
            f"{owner} needs {what} as a positive int, got {value!r}."
        )


def check_flag(value: object, what: str, owner: str) -> bool:
    """Return ``value`` if it is a bool; a string such as "no" is not False."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidValueError(
            f"{owner} needs {what} as True or False, got {value!r}."
        )
    return bool(value)


class Dense(Block):
    """``y = activation(x @ weight.T + bias)`` with weight shape ``(units, in_units)``.

    Args:
        units: output features.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``,
            ``"gelu"``, ``"leakyrelu"``, ``"identity"`` or ``None``.
        in_units: input features; unknown (``?``) until data or
            ``infer_shape`` tells, unless given.
        use_bias: add a bias.
        flatten: as in Gluon, treat every axis after the first as features
            (``True``), or apply the layer to the last axis only (``False``).
        weight_initializer: this weight's own initializer; ``None`` takes the
            one given to ``initialize()``.
        bias_initializer: defaults to zeros.
    """

    kind = "dense"

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        in_units: int | None = None,
        use_bias: bool = True,
        flatten: bool = True,
        weight_initializer: _init.Initializer | str | None = None,
        bias_initializer: _init.Initializer | str | None = None,
        *,
        label: str | None = None,
        share: Dense | None = None,
    ) -> None:
        super().__init__(label=label, share=share)
        check_size(units, "units", "Dense")
        check_size(in_units, "in_units", "Dense", allow_none=True)
        self.units = int(units)
        self.activation = check_activation(activation)
        self.use_bias = check_flag(use_bias, "use_bias", "Dense")
        self.flatten = check_flag(flatten, "flatten", "Dense")
        hint = ("in_units=20", "20")
        self.weight = self._declare(
            "weight",
            (self.units, in_units),
            _init.parse(weight_initializer),
            ("units", "in_units"),
            hint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self._declare(
                "bias",
                (self.units,),
                _init.parse(bias_initializer) or _init.Zero(),
                ("units",),
                hint,
            )

    @property
    def in_units(self) -> int | None:
        return self.weight.shape[1]

    def describe(self) -> str:
        return f"dense {self.units}"

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        if len(shape) < 2:
            raise layer_error(
                self,
                f"expects a batch of inputs, at least 2-D (batch, features); it got "
                f"shape {format_shape(shape)}.",
                "Add a batch axis, e.g. X.reshape(1, -1) for a single example.",
            )
        features = multiply(shape[1:]) if self.flatten else shape[-1]
        if features == 0:
            raise layer_error(
                self,
                f"received inputs with zero features (shape {format_shape(shape)}).",
                "A dense layer needs at least one input feature; check the input.",
            )

        # The dimensions its features come from: its own flatten, or a Flatten
        # layer just before it (only shape-keeping layers in between).
        source = None
        if self.flatten and len(shape) > 2:
            source = tuple(shape[1:])
        elif plan.flattened is not None and plan.flattened[0] == tuple(shape):
            source = plan.flattened[1]

        def mismatch(known, new) -> str:
            return self._mismatch(known[1], new[1], shape, source)

        plan.fill(self, self.weight, (self.units, features), mismatch)
        if self.bias is not None:
            plan.fill(self, self.bias, (self.units,))
        self.weight.size_cause = ""
        if isinstance(features, int) and source is not None:
            self.weight.size_cause = (
                f" It is a dense layer after a flatten of {format_shape(source)} "
                f"= {features:,} features; each of its {self.units} units has a "
                "weight for every one of them."
            )
        if self.flatten:
            return (shape[0], self.units)
        return (*shape[:-1], self.units)

    def _mismatch(
        self, expected: int, received: int, shape: Shape, source: Shape | None = None
    ) -> str:
        how = (
            "was materialized for"
            if self.weight.state == "materialized"
            else "was declared for"
        )
        text = (
            f"{self.where()} {how} {expected} input features; this batch has "
            f"{received} (shape {format_shape(shape)})."
        )
        if source is not None:
            text += (
                f"\nIts input is flattened from {format_shape(source)}, so if the "
                "image or sequence size changed, the flattened size changed with it."
            )
        if self.share is not None:
            text += (
                f"\nIts parameters are tied to {self.share.where()} (share=), so both "
                f"layers take {expected} input features; tied layers must receive "
                "inputs of the same size."
            )
        return (
            f"{text}\nNo parameter was changed. Pass inputs with {expected} "
            "features, or declare a new net for the new size."
        )

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        w = self.weight.live
        if x.dtype != w.dtype:
            x = x.astype(w.dtype)
        if self.flatten and x.ndim != 2:
            x = x.reshape(x.shape[0], math.prod(x.shape[1:]))
        y = x @ w.T
        if self.bias is not None:
            y += self.bias.live
        return activate(y, self.activation)

    def __repr__(self) -> str:
        units_in = "?" if self.in_units is None else self.in_units
        act = f", {self.activation}" if self.activation else ""
        return f"Dense({units_in} -> {self.units}{act})"
