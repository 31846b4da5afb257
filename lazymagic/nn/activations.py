"""Activation functions, as functions and as layers."""

from __future__ import annotations

import math

import numpy as np

from ..engine.block import Block, Context, Plan
from ..engine.shapes import Shape
from ..errors import InvalidValueError


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, dtype=x.dtype if x.dtype.kind == "f" else None)


def _sigmoid_of_negated(h: np.ndarray) -> np.ndarray:
    """Turn ``h = -x``, in place, into ``sigmoid(x) = 1 / (1 + exp(-x))``.

    This form keeps its relative precision in both tails: sigmoid(-20) is 2.06e-9,
    where ``(1 + tanh(x / 2)) / 2`` cancels to 0. Where ``exp(-x)`` overflows
    (x below about -88.7 in float32, -709.8 in float64) the result is
    1 / inf = 0, so that overflow is not reported.

    Limitation: there the true value is below the smallest normal number (1.2e-38
    in float32), and it flushes to 0 rather than to a subnormal.
    """
    with np.errstate(over="ignore"):
        np.exp(h, out=h)
    h += 1
    return np.reciprocal(h, out=h)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return _sigmoid_of_negated(x * -1.0)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - x.max(axis=axis, keepdims=True) if x.size else x.copy()
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


_GELU_C = math.sqrt(2.0 / math.pi)


def gelu(x: np.ndarray) -> np.ndarray:
    # Limitation: GELU uses the tanh approximation (NumPy has no erf); it differs
    # from the exact form by less than 1e-3.
    with np.errstate(over="ignore"):  # inf inside tanh still gives the limit
        inner = x * x
        inner *= 0.044715 * x
    inner += x
    inner *= _GELU_C
    np.tanh(inner, out=inner)
    inner += 1
    inner *= 0.5 * x
    return inner


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(x > 0, x, x * np.asarray(alpha, dtype=x.dtype))


def identity(x: np.ndarray) -> np.ndarray:
    return x


FUNCTIONS = {
    "relu": relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "gelu": gelu,
    "leakyrelu": leaky_relu,
    "identity": identity,
}


def _sigmoid_in_place(y: np.ndarray) -> np.ndarray:
    np.negative(y, out=y)
    return _sigmoid_of_negated(y)


# The activations that act on each value alone, written to work in place.
_IN_PLACE = {
    "relu": lambda y: np.maximum(y, 0, out=y),
    "sigmoid": _sigmoid_in_place,
    "tanh": lambda y: np.tanh(y, out=y),
}
ELEMENTWISE = frozenset({None, "identity", *_IN_PLACE})

# Activations whose first step multiplies the input by a constant, and what is left
# after it. A layer computing the input as a product can scale its (small) weights
# instead of its (large) output; negation is exact, so the values are the same as
# negating afterwards.
_PRESCALED = {"sigmoid": (-1.0, _sigmoid_of_negated)}


def prescale(activation: str | None) -> float:
    """The factor ``activate(..., prescaled=True)`` expects its input scaled by."""
    entry = _PRESCALED.get(activation or "")
    return entry[0] if entry else 1.0


def activate(
    y: np.ndarray, activation: str | None, *, prescaled: bool = False
) -> np.ndarray:
    """Apply ``activation`` to ``y``, a fresh float array the layer owns.

    The element-wise ones overwrite ``y`` with the same operations, in the same
    order, as the functions above, so the values are identical; the others
    allocate. Large temporaries cost more than their arithmetic: the allocator
    hands freed pages back, and the next pass faults them in again.

    With ``prescaled``, ``y`` was already multiplied by ``prescale(activation)``.
    """
    if activation is None or activation == "identity":
        return y
    if prescaled and activation in _PRESCALED:
        return _PRESCALED[activation][1](y)
    in_place = _IN_PLACE.get(activation)
    return in_place(y) if in_place else FUNCTIONS[activation](y)


def check_activation(name: str | None) -> str | None:
    """Return the activation's canonical name, or raise a ValueError saying which
    names exist."""
    if name is None:
        return None
    key = str(name).lower().replace("_", "")
    if key in ("linear", "none"):
        return None
    if key not in FUNCTIONS:
        import difflib

        close = difflib.get_close_matches(key, FUNCTIONS, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise InvalidValueError(
            f"unknown activation '{name}'.{hint}\nKnown: {', '.join(FUNCTIONS)}."
        )
    return key


class Activation(Block):
    """An activation function as a layer: ``Activation("relu")``."""

    kind = "activation"

    def __init__(
        self, activation: str, *, label: str | None = None, share: Block | None = None
    ) -> None:
        super().__init__(label=label, share=share)
        name = check_activation(activation)
        self.activation = name or "identity"
        self._fn = FUNCTIONS[self.activation]

    def describe(self) -> str:
        return self.activation

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        return shape

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        return self._fn(x)

    def __repr__(self) -> str:
        return f"Activation({self.activation})"


class LeakyReLU(Activation):
    """``x`` where positive, ``alpha · x`` elsewhere."""

    def __init__(
        self,
        alpha: float = 0.01,
        *,
        label: str | None = None,
        share: Block | None = None,
    ) -> None:
        super().__init__("leakyrelu", label=label, share=share)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float):
            raise InvalidValueError(f"LeakyReLU alpha must be a number, got {alpha!r}.")
        self.alpha = float(alpha)

    def describe(self) -> str:
        return f"leakyrelu {self.alpha:g}"

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        return leaky_relu(x, self.alpha)

    def __repr__(self) -> str:
        return f"LeakyReLU({self.alpha:g})"
