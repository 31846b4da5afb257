"""Turn parsed ``%%lazynet`` statements into blocks from ``lazymagic.nn``.

Every value is checked here, at its own line and column, before a layer is
declared, so a mistake in a cell is a ``LazyNetSyntaxError`` pointing at the value
rather than an error from inside ``lazymagic.nn``.

>>> from lazymagic.dsl.parser import parse
>>> net, shape = build(parse("input (batch, 20)\\nfc1 = dense 10 act=relu"))
>>> net
Sequential(
  (fc1): Dense(? -> 10, relu)
)
>>> shape
('batch', 20)
"""

from __future__ import annotations

import difflib
import math
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .. import init as _init
from .. import nn
from ..engine.parameter import float_dtype
from ..engine.shapes import Shape
from ..errors import InvalidValueError, LazyNetSyntaxError, ShapeError
from ..nn.activations import FUNCTIONS
from .parser import Block, Input, Layer, Statement, Value

__all__ = ["LAYER_NAMES", "BuildResult", "build"]


class BuildResult(NamedTuple):
    """The declared net, and the shape from the cell's ``input`` line, if any."""

    net: nn.Sequential
    input_shape: Shape | None


@dataclass
class _Where:
    """The statement being built, for messages and for what values may refer to."""

    statement: Statement
    kind: str
    namespace: Mapping[str, object]
    labels: dict[str, tuple[nn.Block, Statement]]

    def error(self, message: str, column: int, hint: str = "") -> LazyNetSyntaxError:
        """Return a syntax error at ``column`` of the statement's line."""
        statement = self.statement
        return LazyNetSyntaxError(
            message, statement.line, column, statement.source_line, hint
        )


Convert = Callable[[_Where, Value, str], object]


@dataclass(frozen=True)
class _Param:
    """One setting of a layer: its DSL key, the constructor keyword, its checker."""

    key: str
    keyword: str
    convert: Convert
    positional: bool = False
    required: bool = False


@dataclass(frozen=True)
class _LayerSpec:
    """How a DSL layer name becomes an ``nn`` layer."""

    factory: Callable[..., nn.Block]
    params: tuple[_Param, ...] = ()
    example: str = ""
    fixed: Mapping[str, object] = field(default_factory=dict)

    @property
    def positional(self) -> tuple[_Param, ...]:
        return tuple(param for param in self.params if param.positional)


def _describe(value: Value) -> str:
    """Name a value in a message: ``0``, ``the name 'relu'``, ``the tuple (3, 3)``."""
    if value.kind in ("int", "float", "bool", "unknown"):
        return f"'{value}'" if value.kind == "unknown" else str(value)
    words = {"name": "the name", "tuple": "the tuple", "call": "the call"}
    return f"{words.get(value.kind, 'the lookup')} '{value}'"


def _show(obj: object) -> str:
    """Show a namespace value briefly, with its type."""
    text = repr(obj)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} (a {type(obj).__name__})"


def _lookup(where: _Where, value: Value) -> object:
    """Return the namespace value a ``{name}`` lookup refers to."""
    name = str(value.value)
    if name not in where.namespace:
        raise where.error(
            f"the lookup {{{name}}} names no variable of the notebook.",
            value.column,
            f"Define it in an earlier cell (for example {name} = 128), or write the "
            "number itself.",
        )
    return where.namespace[name]


def _number(where: _Where, value: Value, what: str, want: str, integer: bool) -> float:
    """Return the int (or, unless ``integer``, real) number a value stands for."""
    kinds = (numbers.Integral,) if integer else (numbers.Real,)
    if value.kind == "lookup":
        obj = _lookup(where, value)
        if isinstance(obj, bool) or not isinstance(obj, kinds):
            raise where.error(
                f"'{where.kind}' needs {what} as {want}, but {value} is {_show(obj)}.",
                value.column,
                f"Set {value.value} to {want} in the notebook, or write the number "
                "itself.",
            )
        return int(obj) if isinstance(obj, numbers.Integral) else float(obj)
    literal = value.value
    if value.kind in ("int", "float") and isinstance(literal, int | float):
        if value.kind == "int" or not integer:
            return literal
    raise where.error(
        f"'{where.kind}' needs {what} as {want}, not {_describe(value)}.",
        value.column,
        _example_hint(where, value),
    )


def _example_hint(where: _Where, value: Value) -> str:
    spec = _LAYERS.get(where.kind)
    example = spec.example if spec else _OTHER_EXAMPLES.get(where.kind, "")
    hint = f"For example: {example}." if example else ""
    if value.kind == "name" and str(value.value) in FUNCTIONS:
        hint = f"To set the activation, write act={value.value}. " + hint
    return hint.strip()


def _in_range(
    where: _Where, value: Value, what: str, want: str, number: float, ok: bool
) -> None:
    if not ok:
        shown = f"{value} is {number}" if value.kind == "lookup" else f"not {number}"
        joiner = ", but " if value.kind == "lookup" else ", "
        raise where.error(
            f"'{where.kind}' needs {what} as {want}{joiner}{shown}.",
            value.column,
            _example_hint(where, value),
        )


def _count(where: _Where, value: Value, what: str) -> int:
    """A positive int: units, channels, a repeat count."""
    want = "a positive integer"
    number = int(_number(where, value, what, want, integer=True))
    _in_range(where, value, what, want, number, number >= 1)
    return number


def _size(nd: int, minimum: int) -> Convert:
    """An int >= ``minimum``, or a tuple of ``nd`` of them: kernel, stride, padding."""
    want = f"an integer >= {minimum}"
    if nd > 1:
        want += f" or a tuple of {nd} such integers"

    def convert(where: _Where, value: Value, what: str) -> int | tuple[int, ...]:
        if value.kind != "tuple":
            number = int(_number(where, value, what, want, integer=True))
            _in_range(where, value, what, want, number, number >= minimum)
            return number
        if len(value.items) != nd:
            raise where.error(
                f"'{where.kind}' needs {what} as {want}, not {_describe(value)}.",
                value.column,
                f"'{where.kind}' works on {nd} spatial axes, so a tuple needs {nd} "
                "values.",
            )
        sizes = []
        for item in value.items:
            number = int(_number(where, item, what, want, integer=True))
            _in_range(where, item, what, want, number, number >= minimum)
            sizes.append(number)
        return tuple(sizes)

    return convert


def _rate(where: _Where, value: Value, what: str) -> float:
    want = "a number in [0, 1)"
    number = _number(where, value, what, want, integer=False)
    _in_range(where, value, what, want, number, 0 <= number < 1)
    return float(number)


def _slope(where: _Where, value: Value, what: str) -> float:
    want = "a finite number"
    number = _number(where, value, what, want, integer=False)
    _in_range(where, value, what, want, number, math.isfinite(number))
    return float(number)


def _flag(where: _Where, value: Value, what: str) -> bool:
    if value.kind != "bool":
        raise where.error(
            f"'{where.kind}' needs {what} as true or false, not {_describe(value)}.",
            value.column,
            f"Write {what}=true or {what}=false.",
        )
    return bool(value.value)


def _activation(where: _Where, value: Value, what: str) -> str:
    known = ", ".join(FUNCTIONS)
    if value.kind != "name":
        raise where.error(
            f"'{where.kind}' needs {what} as an activation name, not "
            f"{_describe(value)}.",
            value.column,
            f"Activations: {known}.",
        )
    name = str(value.value)
    if name not in FUNCTIONS:
        raise where.error(
            f"unknown activation '{name}'.",
            value.column,
            f"{_did_you_mean(name, FUNCTIONS)}Activations: {known}.",
        )
    return name


def _initializer(where: _Where, value: Value, what: str) -> _init.Initializer:
    """An initializer name or call, made by ``lazymagic.init.create``."""
    if value.kind not in ("name", "call"):
        raise where.error(
            f"'{where.kind}' needs {what} as an initializer, not {_describe(value)}.",
            value.column,
            "Write a name such as xavier or a call such as normal(0.01).",
        )
    name = str(value.value) if value.kind == "name" else value.call_name
    args: list[float | str] = []
    for item in value.items:
        if item.kind == "name":
            args.append(str(item.value))
        else:
            args.append(_number(where, item, "its arguments", "numbers", False))
    try:
        return _init.create(name, *args)
    except KeyError:
        raise where.error(
            f"unknown initializer '{name}'.",
            value.column,
            f"{_did_you_mean(name, _init.NAMES)}Initializers: "
            f"{', '.join(_init.NAMES)}.",
        ) from None
    except (ValueError, TypeError) as error:
        raise where.error(
            f"the initializer '{value}' does not accept these arguments.",
            value.column,
            f"{error} For example: normal(0.01), uniform(0.07), constant(1).",
        ) from None


def _bias(where: _Where, value: Value, what: str) -> object:
    """``false`` (no bias), ``true`` (the default bias) or an initializer."""
    if value.kind == "bool":
        return bool(value.value)
    try:
        return _initializer(where, value, what)
    except LazyNetSyntaxError as error:
        raise LazyNetSyntaxError(
            error.message,
            error.line,
            error.column,
            error.source_line,
            "Write bias=false for no bias, or an initializer. " + error.hint,
        ) from None


def _share(where: _Where, value: Value, what: str) -> nn.Block:
    """An earlier labelled layer of the same kind."""
    if value.kind != "name":
        raise where.error(
            f"share= needs the label of an earlier layer, not {_describe(value)}.",
            value.column,
            "Label a layer ('shared = dense 8'), then write share=shared.",
        )
    label = str(value.value)
    if label not in where.labels:
        known = ", ".join(f"'{name}'" for name in where.labels)
        listing = f"Labels so far: {known}." if known else "No layer is labelled yet."
        raise where.error(
            f"no earlier layer is labelled '{label}'.",
            value.column,
            f"{_did_you_mean(label, list(where.labels))}{listing} Label the layer "
            f"to share ('{label} = {where.kind} ...') above this line.",
        )
    target, statement = where.labels[label]
    spec = _LAYERS.get(where.kind)
    if isinstance(statement, Layer) and spec is not None:
        if _same_factory(spec, _LAYERS.get(statement.kind)):
            return target
    what = "block" if isinstance(statement, Block) else "layer"
    if isinstance(statement, Layer | Block):
        raise where.error(
            f"'{label}' (line {statement.line}) is a {statement.kind} {what}, so this "
            f"{where.kind} layer cannot share its parameters.",
            value.column,
            f"share= ties parameters between layers of one kind: label an earlier "
            f"{where.kind} layer and name it here.",
        )
    raise where.error(f"'{label}' is not a layer.", value.column)


def _same_factory(spec: _LayerSpec, other: _LayerSpec | None) -> bool:
    return other is not None and other.factory is spec.factory


def _did_you_mean(word: str, choices: Sequence[str] | Mapping[str, object]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"Did you mean '{close[0]}'? " if close else ""


_ACT = _Param("act", "activation", _activation)
_INIT = _Param("init", "weight_initializer", _initializer)
_BIAS = _Param("bias", "bias_initializer", _bias)
_SHARE = _Param("share", "share", _share)


def _in(keyword: str) -> _Param:
    return _Param("in", keyword, _count)


def _conv(nd: int) -> tuple[_Param, ...]:
    return (
        _Param("channels", "channels", _count, positional=True, required=True),
        _Param("kernel", "kernel_size", _size(nd, 1), positional=True, required=True),
        _Param("stride", "strides", _size(nd, 1)),
        _Param("padding", "padding", _size(nd, 0)),
        _Param("dilation", "dilation", _size(nd, 1)),
        _Param("groups", "groups", _count),
        _ACT,
        _in("in_channels"),
        _INIT,
        _BIAS,
        _SHARE,
    )


def _pool(nd: int) -> tuple[_Param, ...]:
    return (
        _Param("kernel", "pool_size", _size(nd, 1), positional=True),
        _Param("stride", "strides", _size(nd, 1)),
        _Param("padding", "padding", _size(nd, 0)),
    )


_NORM = (_in("in_channels"), _SHARE)

_LAYERS: dict[str, _LayerSpec] = {
    "dense": _LayerSpec(
        nn.Dense,
        (
            _Param("units", "units", _count, positional=True, required=True),
            _ACT,
            _in("in_units"),
            _INIT,
            _BIAS,
            _Param("flatten", "flatten", _flag),
            _SHARE,
        ),
        "dense 10 act=relu",
    ),
    "conv1d": _LayerSpec(nn.Conv1D, _conv(1), "conv1d 16 kernel=3 padding=1"),
    "conv2d": _LayerSpec(nn.Conv2D, _conv(2), "conv2d 16 kernel=3 padding=1"),
    "maxpool1d": _LayerSpec(nn.MaxPool1D, _pool(1), "maxpool1d kernel=2"),
    "maxpool2d": _LayerSpec(nn.MaxPool2D, _pool(2), "maxpool2d kernel=2 stride=2"),
    "avgpool1d": _LayerSpec(nn.AvgPool1D, _pool(1), "avgpool1d kernel=2"),
    "avgpool2d": _LayerSpec(nn.AvgPool2D, _pool(2), "avgpool2d kernel=2 stride=2"),
    "globalavgpool": _LayerSpec(nn.GlobalAvgPool, (), "globalavgpool"),
    "flatten": _LayerSpec(nn.Flatten, (), "flatten"),
    "batchnorm": _LayerSpec(nn.BatchNorm, _NORM, "batchnorm"),
    "layernorm": _LayerSpec(nn.LayerNorm, _NORM, "layernorm"),
    "dropout": _LayerSpec(
        nn.Dropout,
        (_Param("rate", "rate", _rate, positional=True, required=True),),
        "dropout 0.5",
    ),
    "embedding": _LayerSpec(
        nn.Embedding,
        (
            _Param("input_dim", "input_dim", _count, positional=True, required=True),
            _Param("output_dim", "output_dim", _count, positional=True, required=True),
            _INIT,
            _SHARE,
        ),
        "embedding 1000 64",
    ),
    **{
        name: _LayerSpec(nn.Activation, (), name, {"activation": name})
        for name in ("relu", "sigmoid", "tanh", "gelu", "softmax", "identity")
    },
    "leakyrelu": _LayerSpec(
        nn.LeakyReLU,
        (_Param("alpha", "alpha", _slope, positional=True),),
        "leakyrelu 0.1",
    ),
}

LAYER_NAMES: tuple[str, ...] = tuple(_LAYERS)
_OTHER_EXAMPLES = {"repeat": "repeat 2:", "input": "input (batch, 1, 28, 28)"}


def build(
    statements: Sequence[Statement],
    namespace: Mapping[str, object] | None = None,
    *,
    dtype: str = "float32",
) -> BuildResult:
    """Declare the net that parsed statements describe; nothing is allocated.

    Args:
        statements: from ``lazymagic.dsl.parser.parse``.
        namespace: where ``{name}`` lookups find their numbers (the notebook's
            variables); no lookup is allowed without it.
        dtype: the parameters' floating point type.

    Returns:
        The net (a ``Sequential`` of the top-level statements) and the shape of the
        ``input`` line (ints, names and ``None``), or ``None`` without one.

    Raises:
        LazyNetSyntaxError: an unknown layer or option, a value of the wrong kind,
            an undefined lookup or share= label, at the line and column of the
            mistake.
    """
    __tracebackhide__ = True
    wanted = float_dtype(dtype)  # refused before anything is built
    builder = _Builder(namespace or {})
    input_shape: Shape | None = None
    layers: list[nn.Block] = []
    for index, statement in enumerate(statements):
        if isinstance(statement, Input) and index == 0:
            input_shape = builder.input_shape(statement)
        else:
            layers.extend(builder.body([statement]))
    net = nn.Sequential(*layers)
    net.input_shape = input_shape
    if wanted != np.float32:
        net.cast(wanted)
    return BuildResult(net, input_shape)


class _Builder:
    """Build statements in order, remembering labels for share=."""

    def __init__(self, namespace: Mapping[str, object]) -> None:
        self.namespace = namespace
        self.labels: dict[str, tuple[nn.Block, Statement]] = {}

    def where(self, statement: Statement, kind: str) -> _Where:
        return _Where(statement, kind, self.namespace, self.labels)

    def input_shape(self, statement: Input) -> Shape:
        where = self.where(statement, "input")
        dims: list[int | str | None] = []
        for dim in statement.dims:
            if dim.kind == "name":
                dims.append(str(dim.value))
            elif dim.kind == "unknown":
                dims.append(None)
            else:
                want = "an integer >= 0"
                number = int(_number(where, dim, "a dimension", want, integer=True))
                _in_range(where, dim, "a dimension", want, number, number >= 0)
                dims.append(number)
        return tuple(dims)

    def statement(self, statement: Statement) -> nn.Block:
        __tracebackhide__ = True
        if isinstance(statement, Input):
            raise self.where(statement, "input").error(
                "'input' can only be the first statement of the cell.",
                statement.column,
                "Move it to the top, outside every block.",
            )
        block = (
            self.layer(statement)
            if isinstance(statement, Layer)
            else self.block(statement)
        )
        self.remember(statement, block)
        return block

    def remember(self, statement: Layer | Block, block: nn.Block) -> None:
        label = statement.label
        if label is None:
            return
        if label in self.labels:
            first = self.labels[label][1]
            raise self.where(statement, statement.kind).error(
                f"the label '{label}' is already used on line {first.line}.",
                statement.label_column or statement.column,
                "Labels name parameters (fc1.weight) and share= targets, so each "
                "must be unique: rename one of them.",
            )
        self.labels[label] = (block, statement)

    def layer(self, statement: Layer) -> nn.Block:
        __tracebackhide__ = True
        where = self.where(statement, statement.kind)
        spec = _LAYERS.get(statement.kind)
        if spec is None:
            raise where.error(
                f"unknown layer '{statement.kind}'.",
                statement.column,
                f"Expected a layer name. {_did_you_mean(statement.kind, _LAYERS)}"
                f"Layers: {', '.join(_LAYERS)}.",
            )
        kwargs = dict(spec.fixed)
        kwargs.update(self.settings(where, spec, statement))
        try:
            return spec.factory(**kwargs, label=statement.label)
        except (ValueError, TypeError) as error:
            column = _blamed_column(statement, spec, error)
            raise where.error(
                f"'{statement.kind}' cannot be declared with these settings.",
                column,
                str(error),
            ) from None

    def settings(
        self, where: _Where, spec: _LayerSpec, statement: Layer
    ) -> dict[str, object]:
        """Check the statement's values and options; return constructor keywords."""
        kind = statement.kind
        positional = spec.positional
        if len(statement.args) > len(positional):
            extra = statement.args[len(positional)]
            names = ", ".join(param.key for param in positional)
            count = len(positional)
            takes = f"{count} value{'s' if count > 1 else ''} ({names})"
            if not names:
                takes = "no values"
            given_count = len(statement.args)
            are = "is" if given_count == 1 else "are"
            raise where.error(
                f"'{kind}' takes {takes}, but {given_count} {are} given.",
                extra.column,
                _options_hint(kind, spec),
            )
        given: dict[str, tuple[_Param, Value]] = {}
        for param, value in zip(positional, statement.args, strict=False):
            given[param.key] = (param, value)
        by_key = {param.key: param for param in spec.params}
        for option in statement.options:
            if option.key not in by_key:
                raise where.error(
                    f"unknown option '{option.key}' for '{kind}'.",
                    option.column,
                    f"{_did_you_mean(option.key, by_key)}{_options_hint(kind, spec)}",
                )
            if option.key in given:
                raise where.error(
                    f"'{kind}' is given {option.key} twice: as a value and as "
                    f"{option.key}=.",
                    option.column,
                    "Keep one of them.",
                )
            given[option.key] = (by_key[option.key], option.value)
        for param in spec.params:
            if param.required and param.key not in given:
                raise where.error(
                    f"'{kind}' needs {param.key}.",
                    statement.column,
                    f"For example: {spec.example}.",
                )
        kwargs: dict[str, object] = {}
        for param, value in given.values():
            converted = param.convert(where, value, param.key)
            if param.key == "bias" and isinstance(converted, bool):
                kwargs["use_bias"] = converted
            else:
                kwargs[param.keyword] = converted
        return kwargs

    def block(self, statement: Block) -> nn.Block:
        __tracebackhide__ = True
        where = self.where(statement, statement.kind)
        body = list(statement.body)
        shortcut = None
        if statement.kind == "residual" and body:
            last = body[-1]
            if isinstance(last, Block) and last.kind == "shortcut":
                shortcut = nn.Sequential(*self.body(last.body))
                body.pop()
        if statement.kind == "shortcut":
            raise where.error(
                "'shortcut:' outside a residual block.",
                statement.column,
                "Make it the last statement of a 'residual:' block.",
            )
        children = self.body(body)
        if not children:
            raise where.error(
                f"the block '{statement.kind}:' has no layers.",
                statement.column,
                "Indent at least one layer under it.",
            )
        label = statement.label
        try:
            if statement.kind == "residual":
                return nn.Residual(*children, shortcut=shortcut, label=label)
            if statement.kind == "repeat":
                if len(statement.args) != 1:
                    raise where.error(
                        "'repeat' needs one count.",
                        statement.column,
                        "Write 'repeat N:', for example 'repeat 2:'.",
                    )
                count = _count(where, statement.args[0], "a count")
                return nn.Repeat(count, *children, label=label)
            return nn.Sequential(*children, label=label)
        except InvalidValueError as error:
            message, _, hint = str(error).partition("\n")
            raise where.error(message, statement.column, hint) from None

    def body(self, statements: Sequence[Statement]) -> list[nn.Block]:
        blocks = []
        for statement in statements:
            block = self.statement(statement)
            block.dsl_line = statement.line  # so shape errors can name the line
            blocks.append(block)
        return blocks


def _options_hint(kind: str, spec: _LayerSpec) -> str:
    if not spec.params:
        return f"'{kind}' takes no values or options: write '{kind}' alone."
    keys = ", ".join(f"{param.key}=" for param in spec.params)
    return f"'{kind}' takes: {keys}. For example: {spec.example}."


def _blamed_column(statement: Layer, spec: _LayerSpec, error: Exception) -> int:
    """Point at the option an ``nn`` error is about, else at the layer's name."""
    if isinstance(error, ShapeError):
        words = {"share"}
    else:
        words = set(re.findall(r"[A-Za-z_]+", str(error)))
    keywords = {param.key: param.keyword for param in spec.params}
    for option in statement.options:
        if option.key in words or keywords.get(option.key) in words:
            return option.column
    return statement.column
