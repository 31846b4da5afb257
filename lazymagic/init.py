"""Initializers: how a parameter's first values are drawn.

Fan rules, for a weight of shape ``(out, in, *kernel)`` (a dense weight is
``(units, in_units)``, a convolution kernel ``(channels, in_channels/groups, *k)``):

- ``fan_in = in · ∏kernel``
- ``fan_out = out · ∏kernel``

A one-dimensional parameter (a bias, a batch-norm scale) has ``fan_in = fan_out =
its length``. Every initializer draws its values in the parameter's own dtype,
directly into the final array, chunk by chunk from streams that depend only on the
seed and the parameter's dotted name.

>>> Xavier().describe((256, 20)).formula
'xavier uniform: bound = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / (20 + 256)) = 0.1474'
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .engine.parameter import CHUNK_SIZE
from .errors import InvalidValueError, ShapeError

if TYPE_CHECKING:
    from .engine.parameter import Parameter

__all__ = [
    "Initializer",
    "Distribution",
    "Zero",
    "One",
    "Constant",
    "Uniform",
    "Normal",
    "TruncatedNormal",
    "Xavier",
    "XavierUniform",
    "XavierNormal",
    "KaimingUniform",
    "KaimingNormal",
    "Orthogonal",
    "fans",
    "gain",
    "create",
    "parse",
    "NAMES",
]


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` for a parameter shape.

    >>> fans((256, 20))
    (20, 256)
    >>> fans((16, 6, 5, 5))
    (150, 400)
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def gain(nonlinearity: str = "relu", negative_slope: float = 0.01) -> float:
    """The gain that keeps activations' variance steady through a nonlinearity.

    >>> round(gain("relu"), 4)
    1.4142
    """
    gains = {
        "linear": 1.0,
        "identity": 1.0,
        "sigmoid": 1.0,
        "tanh": 5.0 / 3.0,
        "relu": math.sqrt(2.0),
        "leakyrelu": math.sqrt(2.0 / (1.0 + negative_slope**2)),
        "gelu": math.sqrt(2.0),
    }
    key = nonlinearity.replace("_", "").lower()
    if key not in gains:
        raise InvalidValueError(
            f"no gain is defined for nonlinearity '{nonlinearity}'.\n"
            f"Use one of: {', '.join(sorted(gains))}."
        )
    return gains[key]


@dataclass(frozen=True)
class Distribution:
    """The theoretical distribution an initializer draws from, for one shape.

    ``kind`` is ``"constant"``, ``"uniform"``, ``"normal"`` or
    ``"truncated_normal"``; orthogonal matrices are described by the normal their
    entries approach. ``formula`` is one line of text with the numbers.
    """

    kind: str
    formula: str
    fan_in: int
    fan_out: int
    low: float = 0.0
    high: float = 0.0
    mean: float = 0.0
    std: float = 0.0
    value: float = 0.0
    approximate: bool = False

    def pdf(self, x: np.ndarray) -> np.ndarray:
        """Density at ``x`` (zero everywhere for a constant, which is a spike)."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "uniform":
            inside = (x >= self.low) & (x <= self.high)
            return np.where(inside, 1.0 / (self.high - self.low), 0.0)
        if self.kind in ("normal", "truncated_normal"):
            z = (x - self.mean) / self.std
            dens = np.exp(-0.5 * z * z) / (self.std * math.sqrt(2 * math.pi))
            if self.kind == "truncated_normal":
                mass = self._normal_cdf(self.high) - self._normal_cdf(self.low)
                inside = (x >= self.low) & (x <= self.high)
                dens = np.where(inside, dens / mass, 0.0)
            return dens
        return np.zeros_like(x)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Cumulative distribution at ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if self.kind == "constant":
            return (x >= self.value).astype(np.float64)
        if self.kind == "uniform":
            return np.clip((x - self.low) / (self.high - self.low), 0.0, 1.0)
        phi = np.vectorize(self._normal_cdf, otypes=[np.float64])
        if self.kind == "normal":
            return phi(x)
        lo, hi = self._normal_cdf(self.low), self._normal_cdf(self.high)
        return np.clip((phi(np.clip(x, self.low, self.high)) - lo) / (hi - lo), 0, 1)

    def _normal_cdf(self, x: float) -> float:
        return 0.5 * (1.0 + math.erf((x - self.mean) / (self.std * math.sqrt(2.0))))


class Initializer:
    """Base class: subclasses draw one chunk of values at a time.

    Subclasses set ``name`` (the DSL spelling) and implement ``describe`` and
    ``_fill_chunk``; the base class walks the chunks.
    """

    name = "initializer"

    def fill(self, out: np.ndarray, param: Parameter) -> None:
        """Fill ``out`` in place with the values ``param`` should start with.

        Chunk ``i`` of the flattened array always comes from ``param.stream(i)``,
        so the values do not depend on how many threads fill the chunks.
        """
        spec = self.describe(out.shape, param.name)
        flat = out.reshape(-1)  # a view: materialize passes a fresh C-ordered array

        def draw(index: int) -> None:
            chunk = flat[index * CHUNK_SIZE : (index + 1) * CHUNK_SIZE]
            self._fill_chunk(chunk, param.stream(index), spec)

        _for_each_chunk(draw, -(-flat.size // CHUNK_SIZE))

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        raise NotImplementedError

    def _fill_chunk(
        self, chunk: np.ndarray, rng: np.random.Generator, spec: Distribution
    ) -> None:
        raise NotImplementedError

    def _args(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._args()})"

    def __str__(self) -> str:
        args = self._args()
        return f"{self.name}({args})" if args else self.name

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


def _number(value: object, what: str, owner: str, positive: bool = False) -> float:
    """Check an initializer's argument: a finite real number, positive if asked."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool
    )
    if not ok or not math.isfinite(float(value)) or (positive and not value > 0):  # type: ignore[arg-type,operator]
        kind = "a finite number greater than 0" if positive else "a finite number"
        raise InvalidValueError(
            f"{owner} needs {what} as {kind}, got {value!r}; for example "
            f"{owner}({'0.01' if positive else '1'})."
        )
    return float(value)  # type: ignore[arg-type]


def _fan_checked(shape: tuple[int, ...], name: str, what: str) -> tuple[int, int]:
    fan_in, fan_out = fans(shape)
    if fan_in == 0 or fan_out == 0:
        where = f"parameter '{name}'" if name else "this parameter"
        raise ShapeError(
            f"{what} cannot scale {where} of shape {shape}: its fan_in is {fan_in} "
            f"and its fan_out is {fan_out}, and a fan of zero has no scale.\n"
            "A layer received zero features or channels; check the input shape."
        )
    return fan_in, fan_out


# How many threads fill the chunks of one parameter; None means one per core the
# process may run on. NumPy's generators and in-place arithmetic release the GIL.
_FILL_THREADS: int | None = None
# Values are drawn and scaled in blocks of this many, so that the scaling passes
# find them still in the core's cache (256 KiB of float32). A generator continues
# its stream from one block to the next, so the block size never changes values.
_FILL_BLOCK = 1 << 16


def _fill_threads() -> int:
    if _FILL_THREADS is not None:
        return max(1, _FILL_THREADS)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _for_each_chunk(draw: Callable[[int], None], count: int) -> None:
    """Call ``draw(i)`` for every chunk index, on a few threads when it pays."""
    threads = min(count, _fill_threads())
    if threads <= 1:
        for index in range(count):
            draw(index)
        return
    from concurrent.futures import ThreadPoolExecutor  # only big parameters need it

    with ThreadPoolExecutor(threads, thread_name_prefix="lazymagic-fill") as pool:
        for _ in pool.map(draw, range(count)):  # re-raises a worker's error
            pass


def _fill_uniform(chunk: np.ndarray, rng: np.random.Generator, lo: float, hi: float):
    width, low = chunk.dtype.type(hi - lo), chunk.dtype.type(lo)
    for start in range(0, chunk.size, _FILL_BLOCK):
        block = chunk[start : start + _FILL_BLOCK]
        rng.random(out=block, dtype=block.dtype)
        block *= width
        block += low


def _fill_normal(chunk: np.ndarray, rng: np.random.Generator, mean: float, std: float):
    scale, shift = chunk.dtype.type(std), chunk.dtype.type(mean)
    for start in range(0, chunk.size, _FILL_BLOCK):
        block = chunk[start : start + _FILL_BLOCK]
        rng.standard_normal(out=block, dtype=block.dtype)
        block *= scale
        if mean:
            block += shift


class Constant(Initializer):
    """Every value equal to ``value``."""

    name = "constant"

    def __init__(self, value: float = 0.0) -> None:
        self.value = _number(value, "its value", "constant")

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = fans(shape)
        return Distribution(
            "constant",
            f"{self}: every value is {self.value:g}",
            fan_in,
            fan_out,
            value=self.value,
        )

    def fill(self, out: np.ndarray, param: Parameter) -> None:
        out.fill(self.value)  # no random stream needed

    def _args(self) -> str:
        return f"{self.value:g}"


class Zero(Constant):
    """Every value zero (biases and batch-norm shifts start here)."""

    name = "zeros"

    def __init__(self) -> None:
        super().__init__(0.0)

    def _args(self) -> str:
        return ""


class One(Constant):
    """Every value one (batch-norm scales start here)."""

    name = "ones"

    def __init__(self) -> None:
        super().__init__(1.0)

    def _args(self) -> str:
        return ""


class Uniform(Initializer):
    """Uniform in ``[-scale, scale]``; Gluon's default for weights, with 0.07."""

    name = "uniform"

    def __init__(self, scale: float = 0.07) -> None:
        self.scale = _number(scale, "a scale", "uniform", positive=True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = fans(shape)
        return Distribution(
            "uniform",
            f"uniform: values in [-{self.scale:g}, {self.scale:g}]",
            fan_in,
            fan_out,
            low=-self.scale,
            high=self.scale,
        )

    def _fill_chunk(self, chunk, rng, spec):
        _fill_uniform(chunk, rng, spec.low, spec.high)

    def _args(self) -> str:
        return f"{self.scale:g}"


class Normal(Initializer):
    """Normal with mean 0 and standard deviation ``sigma``."""

    name = "normal"

    def __init__(self, sigma: float = 0.01) -> None:
        self.sigma = _number(sigma, "a standard deviation", "normal", positive=True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = fans(shape)
        return Distribution(
            "normal",
            f"normal: mean 0, std {self.sigma:g}",
            fan_in,
            fan_out,
            std=self.sigma,
        )

    def _fill_chunk(self, chunk, rng, spec):
        _fill_normal(chunk, rng, 0.0, spec.std)

    def _args(self) -> str:
        return f"{self.sigma:g}"


class TruncatedNormal(Initializer):
    """Normal with standard deviation ``sigma``, redrawn outside ``±bound·sigma``."""

    name = "truncnormal"

    def __init__(self, sigma: float = 0.01, bound: float = 2.0) -> None:
        self.sigma = _number(sigma, "a standard deviation", "truncnormal", True)
        self.bound = _number(bound, "a bound (in sigmas)", "truncnormal", True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = fans(shape)
        edge = self.bound * self.sigma
        return Distribution(
            "truncated_normal",
            f"truncated normal: std {self.sigma:g} before truncation, values in "
            f"[-{edge:g}, {edge:g}]",
            fan_in,
            fan_out,
            low=-edge,
            high=edge,
            std=self.sigma,
        )

    def _fill_chunk(self, chunk, rng, spec):
        rng.standard_normal(out=chunk, dtype=chunk.dtype)
        # Two boolean masks instead of np.abs(chunk): no float temporary.
        outside = np.flatnonzero((chunk > self.bound) | (chunk < -self.bound))
        while outside.size:  # about 4.6% of draws at two sigma; shrinks fast
            chunk[outside] = rng.standard_normal(outside.size, dtype=chunk.dtype)
            outside = outside[np.abs(chunk[outside]) > self.bound]
        chunk *= spec.std

    def _args(self) -> str:
        return f"{self.sigma:g}" + (f", {self.bound:g}" if self.bound != 2.0 else "")


class Xavier(Initializer):
    """Glorot and Bengio's scaling, with Gluon's keywords.

    The scale is ``sqrt(magnitude / factor)`` with ``factor`` the average of the
    fans (``"avg"``), ``fan_in`` (``"in"``) or ``fan_out`` (``"out"``).
    ``rnd_type="uniform"`` draws in ``±scale`` (the default gives
    ``sqrt(6 / (fan_in + fan_out))``); ``"gaussian"`` uses the scale as the
    standard deviation.
    """

    name = "xavier"

    def __init__(
        self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3
    ) -> None:
        if rnd_type not in ("uniform", "gaussian"):
            raise InvalidValueError(
                f"Xavier rnd_type must be 'uniform' or 'gaussian', got {rnd_type!r}."
            )
        if factor_type not in ("avg", "in", "out"):
            raise InvalidValueError(
                f"Xavier factor_type must be 'avg', 'in' or 'out', got {factor_type!r}."
            )
        self.rnd_type = rnd_type
        self.factor_type = factor_type
        self.magnitude = _number(magnitude, "a magnitude", "xavier", positive=True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = _fan_checked(shape, name, str(self))
        factor = {"avg": (fan_in + fan_out) / 2, "in": fan_in, "out": fan_out}
        scale = math.sqrt(self.magnitude / factor[self.factor_type])
        if self.rnd_type == "uniform" and self.factor_type == "avg":
            text = (
                f"xavier uniform: bound = sqrt({2 * self.magnitude:g} / (fan_in + "
                f"fan_out)) = sqrt({2 * self.magnitude:g} / ({fan_in} + {fan_out})) "
                f"= {scale:.4g}"
            )
        else:
            fan = {"avg": "(fan_in + fan_out)/2", "in": "fan_in", "out": "fan_out"}
            what = "bound" if self.rnd_type == "uniform" else "std"
            text = (
                f"xavier {self.rnd_type}: {what} = sqrt({self.magnitude:g} / "
                f"{fan[self.factor_type]}) with fan_in {fan_in}, fan_out {fan_out} "
                f"= {scale:.4g}"
            )
        if self.rnd_type == "uniform":
            return Distribution(
                "uniform", text, fan_in, fan_out, low=-scale, high=scale
            )
        return Distribution("normal", text, fan_in, fan_out, std=scale)

    def _fill_chunk(self, chunk, rng, spec):
        if spec.kind == "uniform":
            _fill_uniform(chunk, rng, spec.low, spec.high)
        else:
            _fill_normal(chunk, rng, 0.0, spec.std)

    def _args(self) -> str:
        args = []
        if self.rnd_type != "uniform":
            args.append(f"rnd_type={self.rnd_type!r}")
        if self.factor_type != "avg":
            args.append(f"factor_type={self.factor_type!r}")
        if self.magnitude != 3:
            args.append(f"magnitude={self.magnitude:g}")
        return ", ".join(args)


class XavierUniform(Initializer):
    """Glorot uniform: ``±gain · sqrt(6 / (fan_in + fan_out))``."""

    name = "xavier_uniform"

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _number(gain, "a gain", self.name, positive=True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = _fan_checked(shape, name, str(self))
        bound = self.gain * math.sqrt(6.0 / (fan_in + fan_out))
        g = f"{self.gain:g} · " if self.gain != 1 else ""
        text = (
            f"xavier uniform: bound = {g}sqrt(6 / (fan_in + fan_out)) = "
            f"{g}sqrt(6 / ({fan_in} + {fan_out})) = {bound:.4g}"
        )
        return Distribution("uniform", text, fan_in, fan_out, low=-bound, high=bound)

    def _fill_chunk(self, chunk, rng, spec):
        _fill_uniform(chunk, rng, spec.low, spec.high)

    def _args(self) -> str:
        return f"{self.gain:g}" if self.gain != 1 else ""


class XavierNormal(Initializer):
    """Glorot normal: standard deviation ``gain · sqrt(2 / (fan_in + fan_out))``."""

    name = "xavier_normal"

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _number(gain, "a gain", self.name, positive=True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out = _fan_checked(shape, name, str(self))
        std = self.gain * math.sqrt(2.0 / (fan_in + fan_out))
        g = f"{self.gain:g} · " if self.gain != 1 else ""
        text = (
            f"xavier normal: std = {g}sqrt(2 / (fan_in + fan_out)) = "
            f"{g}sqrt(2 / ({fan_in} + {fan_out})) = {std:.4g}"
        )
        return Distribution("normal", text, fan_in, fan_out, std=std)

    def _fill_chunk(self, chunk, rng, spec):
        _fill_normal(chunk, rng, 0.0, spec.std)

    def _args(self) -> str:
        return f"{self.gain:g}" if self.gain != 1 else ""


class _Kaiming(Initializer):
    def __init__(
        self,
        nonlinearity: str = "relu",
        mode: str = "fan_in",
        negative_slope: float = 0.01,
    ) -> None:
        if mode not in ("fan_in", "fan_out"):
            raise InvalidValueError(
                f"mode must be 'fan_in' or 'fan_out', got {mode!r}."
            )
        self.negative_slope = _number(negative_slope, "a negative slope", self.name)
        if not isinstance(nonlinearity, str):
            raise InvalidValueError(
                f"{self.name} needs the nonlinearity's name, such as 'relu', got "
                f"{nonlinearity!r}."
            )
        self.gain = gain(nonlinearity, self.negative_slope)
        self.nonlinearity = nonlinearity
        self.mode = mode

    def _fan(self, shape: tuple[int, ...], name: str) -> tuple[int, int, int]:
        fan_in, fan_out = _fan_checked(shape, name, str(self))
        return fan_in, fan_out, fan_in if self.mode == "fan_in" else fan_out

    def _args(self) -> str:
        args = []
        if self.nonlinearity != "relu":
            args.append(repr(self.nonlinearity))
        if self.mode != "fan_in":
            args.append(f"mode={self.mode!r}")
        return ", ".join(args)


class KaimingUniform(_Kaiming):
    """He uniform: ``±gain · sqrt(3 / fan)``, gain ``sqrt(2)`` for relu."""

    name = "kaiming_uniform"

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out, fan = self._fan(shape, name)
        bound = self.gain * math.sqrt(3.0 / fan)
        text = (
            f"kaiming uniform ({self.nonlinearity}): bound = gain · sqrt(3 / "
            f"{self.mode}) = {self.gain:.4g} · sqrt(3 / {fan}) = {bound:.4g}"
        )
        return Distribution("uniform", text, fan_in, fan_out, low=-bound, high=bound)

    def _fill_chunk(self, chunk, rng, spec):
        _fill_uniform(chunk, rng, spec.low, spec.high)


class KaimingNormal(_Kaiming):
    """He normal: standard deviation ``gain / sqrt(fan)``, gain ``sqrt(2)`` for relu.

    The DSL's ``kaiming`` is this one, as He et al. drew from a normal.
    """

    name = "kaiming"

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        fan_in, fan_out, fan = self._fan(shape, name)
        std = self.gain / math.sqrt(fan)
        text = (
            f"kaiming normal ({self.nonlinearity}): std = gain / sqrt({self.mode}) "
            f"= {self.gain:.4g} / sqrt({fan}) = {std:.4g}"
        )
        return Distribution("normal", text, fan_in, fan_out, std=std)

    def _fill_chunk(self, chunk, rng, spec):
        _fill_normal(chunk, rng, 0.0, spec.std)


class Orthogonal(Initializer):
    """A (semi-)orthogonal matrix times ``gain``, over the flattened trailing axes.

    The weight is seen as ``(shape[0], prod(shape[1:]))``; its rows (or columns,
    whichever are fewer) are orthonormal. Each entry then has variance
    ``gain² / max(rows, columns)`` and is close to normal for large matrices.
    """

    name = "orthogonal"

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _number(gain, "a gain", self.name, positive=True)

    def describe(self, shape: tuple[int, ...], name: str = "") -> Distribution:
        if len(shape) < 2:
            raise ShapeError(
                f"orthogonal needs a parameter with at least two dimensions; "
                f"'{name}' has shape {shape}.\nUse it for weights, not biases."
            )
        fan_in, fan_out = _fan_checked(shape, name, str(self))
        rows, cols = shape[0], math.prod(shape[1:])
        std = self.gain / math.sqrt(max(rows, cols))
        text = (
            f"orthogonal: {rows}×{cols} with orthonormal "
            f"{'rows' if rows <= cols else 'columns'}; entries ≈ normal, std = "
            f"gain / sqrt({max(rows, cols)}) = {std:.4g}"
        )
        return Distribution("normal", text, fan_in, fan_out, std=std, approximate=True)

    def fill(self, out: np.ndarray, param: Parameter) -> None:
        # Limitation: the QR factorization needs the whole matrix at once, so
        # orthogonal weights are drawn from one stream rather than in chunks.
        self.describe(out.shape, param.name)
        rows, cols = out.shape[0], math.prod(out.shape[1:])
        big, small = max(rows, cols), min(rows, cols)
        a = param.stream(0).standard_normal((big, small), dtype=out.dtype)
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diagonal(r))  # make the factorization unique
        if rows < cols:
            q = q.T
        out.reshape(rows, cols)[...] = q * self.gain

    def _args(self) -> str:
        return f"{self.gain:g}" if self.gain != 1 else ""


_FACTORIES: dict[str, type[Initializer]] = {
    "zeros": Zero,
    "zero": Zero,
    "ones": One,
    "one": One,
    "constant": Constant,
    "uniform": Uniform,
    "normal": Normal,
    "truncnormal": TruncatedNormal,
    "truncated_normal": TruncatedNormal,
    "xavier": Xavier,
    "glorot": Xavier,
    "xavier_uniform": XavierUniform,
    "glorot_uniform": XavierUniform,
    "xavier_normal": XavierNormal,
    "glorot_normal": XavierNormal,
    "kaiming": KaimingNormal,
    "he": KaimingNormal,
    "kaiming_normal": KaimingNormal,
    "he_normal": KaimingNormal,
    "kaiming_uniform": KaimingUniform,
    "he_uniform": KaimingUniform,
    "orthogonal": Orthogonal,
}

NAMES: tuple[str, ...] = tuple(_FACTORIES)

TruncNorm = TruncatedNormal  # Gluon's spelling


def create(name: str, *args: float | str) -> Initializer:
    """Build an initializer from its DSL spelling and arguments.

    >>> create("normal", 0.01)
    Normal(0.01)

    Raises:
        KeyError: an unknown name.
        ValueError: arguments the initializer does not take.
    """
    key = name.lower()
    if key not in _FACTORIES:
        raise KeyError(name)
    try:
        return _FACTORIES[key](*args)  # type: ignore[arg-type]
    except InvalidValueError:
        raise
    except TypeError:
        raise InvalidValueError(
            f"initializer '{name}' does not take the arguments {args}."
        ) from None


_SPEC = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:\((.*)\))?\s*$")


def parse(spec: str | Initializer | None) -> Initializer | None:
    """Accept an initializer, ``None``, or a spelling such as ``"normal(0.01)"``.

    Raises:
        ValueError: a string that names no initializer or has bad arguments.
    """
    if spec is None or isinstance(spec, Initializer):
        return spec
    if not isinstance(spec, str):
        raise InvalidValueError(
            f"expected an initializer from lazymagic.init or its name, got {spec!r}."
        )
    match = _SPEC.match(spec)
    if not match:
        raise InvalidValueError(
            f"'{spec}' is not an initializer; write a name such as 'xavier' or a "
            "call such as 'normal(0.01)'."
        )
    name, arg_text = match.groups()
    args: list[float | str] = []
    for raw in (arg_text or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        try:
            args.append(float(raw))
        except ValueError:
            args.append(raw.strip("'\""))
    try:
        return create(name, *args)
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name.lower(), NAMES, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise InvalidValueError(
            f"unknown initializer '{name}'.{hint}\nKnown: {', '.join(NAMES)}."
        ) from None
