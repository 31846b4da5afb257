"""lazymagic: watch a neural network's parameters come to be.

Declare a net without input sizes; its parameters go *declared* → *pending*
(``initialize()``) → *materialized* (the first batch, or ``infer_shape``).

>>> from lazymagic import nn
>>> net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))
>>> net.initialize(seed=0)
>>> net[0].weight.state
<State.PENDING: 'pending'>
"""

from __future__ import annotations

import logging
from typing import Any

from . import init, nn
from .engine.parameter import Parameter, State
from .errors import (
    DeferredInitializationError,
    InvalidValueError,
    LazyMagicError,
    LazyMagicWarning,
    LazyNetSyntaxError,
    MemoryLimitError,
    ParameterFileError,
    ShapeError,
)
from .options import options

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DeferredInitializationError",
    "InvalidValueError",
    "LazyMagicError",
    "LazyMagicWarning",
    "LazyNetSyntaxError",
    "MemoryLimitError",
    "Parameter",
    "ParameterFileError",
    "ShapeError",
    "State",
    "init",
    "load_ipython_extension",
    "nn",
    "options",
    "show",
    "unload_ipython_extension",
]


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%%lazynet`` and ``%lazyshow`` (``%load_ext lazymagic``)."""
    from .magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload

    unload(ipython)


def show(net: nn.Block) -> Any:
    """Return the dashboard widget for ``net``: its parameter table, live."""
    from .widgets import dashboard

    return dashboard(net)
