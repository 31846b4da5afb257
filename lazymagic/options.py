"""Settings shared by the Python API and ``%config LazyMagic``.

``lazymagic.options.max_param_bytes = N`` and ``%config LazyMagic.max_param_bytes
= N`` are the same setting; so are the two spellings of ``short_errors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import InvalidValueError


class Options:
    """The settings object behind ``lazymagic.options``.

    Attributes:
        max_param_bytes: refuse to materialize more than this many bytes in one
            operation. ``None`` means a fraction (``max_param_fraction``) of the
            memory available when the check runs.
        max_param_fraction: that fraction, 0.5 by default.
        short_errors: show lazymagic's errors in IPython as one message without
            library frames (the cell still fails).
    """

    _names = ("max_param_bytes", "max_param_fraction", "short_errors")

    def __init__(self) -> None:
        self._values: dict[str, Any] = {
            "max_param_bytes": None,
            "max_param_fraction": 0.5,
            "short_errors": True,
        }
        self._watchers: list[Callable[[str, Any], None]] = []

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(
            f"lazymagic.options has no setting '{name}'; the settings are "
            f"{', '.join(self._names)}."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
            return
        if name not in self._names:
            raise AttributeError(
                f"lazymagic.options has no setting '{name}'; the settings are "
                f"{', '.join(self._names)}."
            )
        value = _validate(name, value)
        if self._values[name] == value:
            return
        self._values[name] = value
        for watcher in list(self._watchers):
            watcher(name, value)

    def watch(self, callback: Callable[[str, Any], None]) -> None:
        """Call ``callback(name, value)`` whenever a setting changes."""
        self._watchers.append(callback)

    def unwatch(self, callback: Callable[[str, Any], None]) -> None:
        if callback in self._watchers:
            self._watchers.remove(callback)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Options({inner})"


def _validate(name: str, value: Any) -> Any:
    if name == "max_param_bytes":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidValueError(
                f"max_param_bytes must be a number of bytes (an int >= 0) or None "
                f"for the default, got {value!r}."
            )
        return int(value)
    if name == "max_param_fraction":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValueError(
                f"max_param_fraction must be a number, got {value!r}."
            )
        if not 0 < value <= 1:
            raise InvalidValueError(
                f"max_param_fraction must be in (0, 1], got {value!r}."
            )
        return float(value)
    if not isinstance(value, bool):
        raise InvalidValueError(f"{name} must be True or False, got {value!r}.")
    return value


options = Options()
