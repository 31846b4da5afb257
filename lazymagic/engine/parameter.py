"""Parameters and their three states."""

from __future__ import annotations

import enum
import hashlib
import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..errors import (
    NEVER_INITIALIZED,
    SHAPE_STILL_UNKNOWN,
    DeferredInitializationError,
    InvalidValueError,
    ShapeError,
)
from . import events
from .shapes import MULTIPLY, Shape, agree, format_shape, is_complete

if TYPE_CHECKING:
    from ..init import Initializer

logger = logging.getLogger(__name__)

# Values are drawn in fixed-size chunks, each from its own stream derived from the
# seed, the dotted name and the chunk index, so the values never depend on how
# many threads fill them or in which order parameters materialize.
CHUNK_SIZE = 1 << 20


# NumPy's generators draw float32 and float64 only, and values are drawn in the
# parameter's own dtype.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def float_dtype(dtype: npt.DTypeLike) -> np.dtype:
    """Return ``dtype`` as a NumPy dtype if parameters can have it, else raise."""
    try:
        found = None if dtype is None else np.dtype(dtype)  # np.dtype(None) is f8
    except TypeError:
        found = None
    # Not "found in FLOAT_DTYPES": None compares equal to float64 there.
    if found is None or found not in FLOAT_DTYPES:
        raise InvalidValueError(
            f"parameters are float32 or float64, not {dtype!r}: values are drawn "
            "directly in the parameter's dtype, and NumPy's generators draw only "
            "these two.\nUse float32 (the default) or float64."
        )
    return found  # type: ignore[return-value]


class State(str, enum.Enum):
    """Where a parameter is on its way to having values.

    ``State`` is a string enum, so ``p.state == "pending"`` holds.
    """

    DECLARED = "declared"
    PENDING = "pending"
    MATERIALIZED = "materialized"

    def __str__(self) -> str:
        return self.value


def name_key(name: str) -> tuple[int, int]:
    """Two 32-bit words that identify a dotted name in a random stream's key."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")


class Parameter:
    """A named array owned by a layer, whose shape may not be known yet.

    Args:
        name: the local name (``weight``); the owning net replaces it with the
            dotted name (``0.weight``) when it walks its children.
        shape: dimensions, ``None`` where unknown.
        dtype: the values' dtype.
        init: the initializer this parameter insists on (a layer's
            ``weight_initializer`` or the bias's zeros); ``None`` lets the one given
            to ``initialize()`` decide.
        dim_names: a name per dimension, used to write the number of values as a
            formula while dimensions are unknown (``256·in_units``).
    """

    def __init__(
        self,
        name: str,
        shape: Shape,
        dtype: npt.DTypeLike = np.float32,
        init: Initializer | None = None,
        dim_names: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.shape: tuple[int | None, ...] = tuple(
            d if isinstance(d, int) else None for d in shape
        )
        self.dtype = float_dtype(dtype)
        self.state = State.DECLARED
        self.own_init = init
        self.init: Initializer | None = None
        self.dim_names = dim_names or tuple(f"d{i}" for i in range(len(self.shape)))
        self.seed: int | None = None
        self._data: np.ndarray | None = None
        # What the layer that owns it says about a missing dimension: the keyword
        # that declares it and an example input, for DeferredInitializationError.
        self.hint_keyword = "in_units=20"
        self.hint_example = "20"
        # Why the owning layer makes it as large as it is, for MemoryLimitError.
        self.size_cause = ""

    def __repr__(self) -> str:
        return (
            f"Parameter('{self.name}', shape={format_shape(self.shape)}, "
            f"dtype={self.dtype.name}, state={self.state.value})"
        )

    @property
    def is_complete(self) -> bool:
        return is_complete(self.shape)

    @property
    def size(self) -> int | None:
        """Number of values, or ``None`` while a dimension is unknown."""
        if not self.is_complete:
            return None
        return math.prod(self.shape)  # type: ignore[arg-type]  # exact, never overflows

    @property
    def nbytes(self) -> int | None:
        size = self.size
        return None if size is None else size * self.dtype.itemsize

    def size_formula(self) -> str:
        """The number of values, as a formula of the unknown dimensions.

        >>> weight = Parameter("weight", (256, None), dim_names=("units", "in_units"))
        >>> weight.size_formula()
        '256·in_units'
        """
        if self.is_complete:
            return str(self.size)
        known = 1
        names = []
        for d, n in zip(self.shape, self.dim_names, strict=True):
            if d is None:
                names.append(n)
            else:
                known *= d
        terms = ([str(known)] if known != 1 else []) + names
        return MULTIPLY.join(terms) if known != 0 else "0"

    def data(self) -> np.ndarray:
        """Return the live array of values (not a copy).

        Raises:
            DeferredInitializationError: the values do not exist yet; the message
                says whether ``initialize()`` is missing or only the input size.
        """
        if self._data is None:
            shape = format_shape(self.shape)
            if self.state is State.DECLARED and self.is_complete:
                raise DeferredInitializationError(
                    f"parameter '{self.name}' has shape {shape} but was never "
                    "initialized, so it has no values yet.\n"
                    "Call net.initialize(); a parameter whose shape is known then "
                    "gets its values at once."
                )
            if self.state is State.DECLARED:
                raise DeferredInitializationError(
                    NEVER_INITIALIZED.format(name=self.name, shape=shape)
                )
            raise DeferredInitializationError(
                SHAPE_STILL_UNKNOWN.format(
                    name=self.name,
                    shape=shape,
                    example=self.hint_example,
                    keyword=self.hint_keyword,
                )
            )
        return self._data

    @property
    def live(self) -> np.ndarray:
        """The values, for layers' forward code, which runs only once a pass has
        materialized every parameter it reaches (unlike ``data()``, no check)."""
        values = self._data
        assert values is not None, "a forward pass reached an unmaterialized parameter"
        return values

    def set_data(self, array: npt.ArrayLike) -> None:
        """Replace the values, checked against every known dimension.

        A declared or pending parameter takes its unknown dimensions from ``array``
        and becomes materialized.

        Raises:
            ShapeError: the array's shape contradicts a known dimension.
        """
        if isinstance(array, np.ma.MaskedArray):
            raise InvalidValueError(
                f"parameter '{self.name}' cannot keep a mask; got a masked array.\n"
                "Pass array.filled(value) to choose the masked values, or "
                "array.data to keep the values underneath the mask."
            )
        value = np.asarray(array)
        if value.dtype.kind not in "biuf":
            raise InvalidValueError(
                f"parameter '{self.name}' holds numbers; got an array of "
                f"{value.dtype}. Pass a numeric array."
            )
        self.check_fits(value.shape, f"the array given to set_data {value.shape}")
        new = np.array(value, dtype=self.dtype, copy=True)
        self.shape = tuple(new.shape)
        self._data = new
        self.state = State.MATERIALIZED
        events.notify([self])

    def check_fits(self, shape: tuple[int, ...], source: str) -> None:
        """Raise ShapeError unless ``shape`` agrees with every known dimension."""
        if not agree(self.shape, shape):
            raise ShapeError(
                f"parameter '{self.name}' has shape {format_shape(self.shape)}; "
                f"{source} does not fit it.\n"
                "Nothing was changed. Give an array whose dimensions agree with every "
                "known one."
            )

    def stream(self, chunk: int) -> np.random.Generator:
        """The random stream for one chunk of this parameter's values."""
        assert self.seed is not None, "a parameter draws values only once seeded"
        key = (*name_key(self.name), chunk)
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=key))
        )

    def materialize(self) -> None:
        """Allocate and fill the values; the shape and initializer must be set."""
        assert self.is_complete and self.init is not None and self.seed is not None
        shape = tuple(d for d in self.shape if d is not None)  # all known here
        out = np.empty(shape, dtype=self.dtype)
        self.init.fill(out, self)
        self._data = out
        self.state = State.MATERIALIZED
        logger.debug("materialized %s %s", self.name, out.shape)
