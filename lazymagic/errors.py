"""Every error and warning lazymagic raises.

Messages have three parts, in this order: what happened, where (a dotted parameter
name, a layer, or a DSL line and column), and what to do next.
"""

from __future__ import annotations


class LazyMagicError(Exception):
    """Base class of every error lazymagic raises on purpose."""


class LazyNetSyntaxError(LazyMagicError, ValueError):
    """A mistake in a ``%%lazynet`` cell body.

    Attributes:
        line: 1-based line in the cell body.
        column: 1-based column in that line.
        source_line: the text of that line.
        message: what happened, without the position and excerpt.
        hint: what was expected or what to do instead.
    """

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        source_line: str = "",
        hint: str = "",
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.hint = hint
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"line {self.line}, column {self.column}: {self.message}"]
        if self.source_line:
            text = self.source_line.rstrip("\n").expandtabs(1)
            parts.append("    " + text)
            parts.append("    " + " " * (self.column - 1) + "^")
        if self.hint:
            parts.append(self.hint)
        return "\n".join(parts)

    def __reduce__(self):  # keep the error picklable across processes
        return (
            type(self),
            (self.message, self.line, self.column, self.source_line, self.hint),
        )


class InvalidValueError(LazyMagicError, TypeError, ValueError):
    """An argument of the wrong kind or out of range: a layer's size, a seed, an
    input that is not numbers."""


class DeferredInitializationError(LazyMagicError, RuntimeError):
    """A parameter's values were asked for before they exist."""


class ShapeError(LazyMagicError, ValueError):
    """Sizes that do not fit: an input against a layer, or two uses of one parameter."""


class MemoryLimitError(LazyMagicError, MemoryError):
    """Materializing would allocate more than ``options.max_param_bytes``, or a
    forward pass needs arrays larger than NumPy can allocate."""


class ParameterFileError(LazyMagicError, ValueError):
    """A parameter file that cannot be read, or that does not fit the net."""


class LazyMagicWarning(UserWarning):
    """Something the user should act on, though nothing failed."""


NEVER_INITIALIZED = (
    "parameter '{name}' has shape {shape} and was never initialized, so it has no "
    "values yet.\n"
    "Call net.initialize() first; the values appear once every dimension is known."
)

SHAPE_STILL_UNKNOWN = (
    "parameter '{name}' has shape {shape}, so it has no values yet: initialize() "
    "recorded its initializer, but the unknown dimensions must be filled before "
    "anything can be allocated.\n"
    "Pass a batch through the net (net(X)), give it an input shape "
    "(net.infer_shape(('batch', {example}))), or declare the input size "
    "({keyword} in Python, in= in the DSL)."
)
