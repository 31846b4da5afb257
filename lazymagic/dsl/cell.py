"""From a ``%%lazynet`` cell body to a declared net."""

from __future__ import annotations

from collections.abc import Mapping

from ..nn import Sequential
from .build import build
from .parser import parse


def build_cell(
    text: str,
    namespace: Mapping[str, object] | None = None,
    dtype: str = "float32",
) -> Sequential:
    """Parse and build a cell body; an ``input`` statement fills the shapes at once.

    Raises:
        LazyNetSyntaxError: any mistake in the body, with its line and column.
        ShapeError: the declared input does not fit a layer.
    """
    __tracebackhide__ = True
    net, input_shape = build(parse(text), namespace or {}, dtype=dtype)
    if input_shape is not None:
        net.infer_shape(input_shape)
    return net
