"""A plain callback hook through which the engine announces state changes.

The engine calls ``notify`` once per operation (one forward pass, one
``initialize()``) with every parameter that changed; dashboards subscribe. A
subscriber must only read the engine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .parameter import Parameter

logger = logging.getLogger(__name__)

Listener = Callable[[list["Parameter"]], None]

_listeners: list[Listener] = []

# Moves on every change of a parameter's state, shape or values, so a block can
# tell that nothing changed since it last planned a pass.
_changes = 0


def changes() -> int:
    """How many times any parameter has changed; equal values mean no change."""
    return _changes


def touch() -> None:
    """Record a change that ``notify`` does not announce (a cast, a new child)."""
    global _changes
    _changes += 1


def subscribe(listener: Listener) -> None:
    """Call ``listener(changed_parameters)`` after every change of state or values."""
    if listener not in _listeners:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def notify(params: Iterable[Parameter]) -> None:
    """Tell every subscriber which parameters changed; skip when none did."""
    changed = list(params)
    if not changed:
        return
    touch()
    for listener in list(_listeners):
        try:
            listener(changed)
        except Exception:  # a broken dashboard must never break the engine
            logger.exception("a state-change listener failed")
