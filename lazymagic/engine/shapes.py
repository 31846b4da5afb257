"""Shapes with unknown and symbolic dimensions.

A dimension is an ``int`` (known), ``None`` (unknown, printed ``?``) or a ``str``
(symbolic, such as ``"batch"``, or a formula built from one, such as ``"H-4"``).
Parameters only ever hold ints and ``None``; symbols live in shapes given to
``infer_shape`` and in the shapes it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import prod

from ..errors import ShapeError

Dim = int | str | None
Shape = tuple[Dim, ...]

MULTIPLY = "·"


def format_dim(dim: Dim) -> str:
    """Return ``dim`` as shown to users: ``?`` for unknown."""
    return "?" if dim is None else str(dim)


def format_shape(shape: Sequence[Dim]) -> str:
    """Format a shape as a tuple with ``?`` for unknown dimensions.

    >>> format_shape((256, None))
    '(256, ?)'
    >>> format_shape((7,))
    '(7,)'
    """
    dims = [format_dim(d) for d in shape]
    if len(dims) == 1:
        return f"({dims[0]},)"
    return "(" + ", ".join(dims) + ")"


def is_complete(shape: Sequence[Dim]) -> bool:
    """Return whether every dimension is a known int."""
    return all(isinstance(d, int) for d in shape)


def normalize_shape(shape: object, what: str = "shape") -> Shape:
    """Check a user's shape and return it as a tuple of ints, names and ``None``.

    Raises:
        ShapeError: a dimension that is negative, not an int, a name or ``None``.
    """
    if isinstance(shape, int | str) or shape is None:
        shape = (shape,)
    try:
        dims: tuple[object, ...] = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        raise ShapeError(
            f"{what} must be a tuple of dimensions, got {shape!r}.\n"
            "Give ints, names such as 'batch', or None, e.g. ('batch', 20)."
        ) from None
    out: list[Dim] = []
    for d in dims:
        if isinstance(d, bool):
            raise ShapeError(f"{what} {dims!r} holds {d!r}; dimensions are not bools.")
        if hasattr(d, "__index__") and not isinstance(d, str):
            d = int(d.__index__())  # numpy integers
            if d < 0:
                raise ShapeError(
                    f"{what} {dims!r} has a negative dimension {d}.\n"
                    "Use None (or '?') for a dimension that is not known yet."
                )
            out.append(d)
        elif d is None or d == "?":
            out.append(None)
        elif isinstance(d, str) and d.strip():
            out.append(d.strip())
        else:
            raise ShapeError(
                f"{what} {dims!r} holds {d!r}, which is not a dimension.\n"
                "Give ints, names such as 'batch', or None."
            )
    return tuple(out)


def agree(a: Sequence[Dim], b: Sequence[Dim]) -> bool:
    """Return whether two shapes have one rank and match wherever both are known.

    >>> agree((256, None), (256, 20))
    True
    >>> agree((256, 20), (256, 30))
    False
    """
    return len(a) == len(b) and all(
        x is None or y is None or x == y for x, y in zip(a, b, strict=True)
    )


def multiply(dims: Iterable[Dim]) -> Dim:
    """Multiply dimensions: an int when all are known, else a formula or ``None``.

    >>> multiply([16, 5, 5])
    400
    >>> multiply([16, "H", "W"])
    '16·H·W'
    """
    dims = list(dims)
    if any(d is None for d in dims):
        return None
    ints = [d for d in dims if isinstance(d, int)]
    names = [d for d in dims if isinstance(d, str)]
    if not names:
        return prod(ints)
    factor = prod(ints)
    if factor == 0:
        return 0
    terms = ([str(factor)] if factor != 1 else []) + [_paren(n) for n in names]
    return MULTIPLY.join(terms)


def _paren(expr: str) -> str:
    return f"({expr})" if any(c in expr for c in "+-/") else expr


def window_size(
    n: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> int:
    """``floor((n + 2p - d(k-1) - 1) / s) + 1``: a known size after a window.

    >>> window_size(28, 5, 1, 2)
    28
    """
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def window_output(
    n: Dim, kernel: int, stride: int, padding: int, dilation: int = 1
) -> Dim:
    """Size of a convolution or pooling output along one axis.

    ``floor((n + 2p - d(k-1) - 1) / s) + 1``; for a symbolic ``n`` a formula.
    A known size of zero or less is returned as is; the caller reports it.

    >>> window_output(28, 5, 1, 2)
    28
    >>> window_output("H", 2, 2, 0)
    '(H-2)//2+1'
    """
    if n is None:
        return None
    if isinstance(n, int):
        return window_size(n, kernel, stride, padding, dilation)
    shift = 2 * padding - dilation * (kernel - 1)
    if stride == 1:
        return n if shift == 0 else f"{n}{shift:+d}"
    return f"({n}{shift - 1:+d})//{stride}+1" if shift != 1 else f"{n}//{stride}+1"


def window_arithmetic(
    n: int, kernel: int, stride: int, padding: int, dilation: int = 1
) -> str:
    """Write out the output-size arithmetic with the numbers, for error messages."""
    out = window_size(n, kernel, stride, padding, dilation)
    return (
        f"floor(({n} + 2·{padding} - {dilation}·({kernel}-1) - 1) / {stride}) + 1 "
        f"= {out}"
    )
