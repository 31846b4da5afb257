"""Parse the body of a ``%%lazynet`` cell into statements.

The parser knows the syntax only: which layers exist, and what their values mean, is
the builder's business (``lazymagic.dsl.build``).

>>> parse("fc1 = dense 10 act=relu")[0].label
'fc1'
"""

# Design: the body is split into lines here, and each line is parsed on its own by an
# LALR parser built from grammar.lark. A statement is one line, so every Lark error
# stays inside the line it happens on, with its exact column, and this module tracks
# indentation itself: Lark's Indenter reports a bad dedent as a DedentError without
# a position and lets an unclosed parenthesis swallow the following lines.

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast

from lark import Lark, Token, Tree
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)

from lazymagic.errors import LazyNetSyntaxError

__all__ = [
    "BLOCK_KINDS",
    "SYNTAX_ERROR_EXAMPLES",
    "Block",
    "Input",
    "Layer",
    "Option",
    "Statement",
    "SyntaxErrorExamples",
    "Value",
    "parse",
]

ValueKind = Literal[
    "int", "float", "bool", "name", "unknown", "tuple", "call", "lookup"
]
BlockKind = Literal["residual", "repeat", "sequential", "shortcut"]

BLOCK_KINDS: tuple[str, ...] = ("residual", "repeat", "sequential", "shortcut")

# Deeper nesting than this is certainly a mistake, and refusing it keeps every later
# walk over the statements (the builder, repr, equality) far from Python's recursion
# limit.
_MAX_NESTING = 50

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_WORD = re.compile(r"[A-Za-z0-9_.+\-]*")
_BLOCKS_SPELLED = "'residual:', 'repeat N:', 'sequential [label]:' and 'shortcut:'"


@dataclass(frozen=True)
class Value:
    """A value in a statement, with the position of its first character.

    Attributes:
        kind: ``int``, ``float``, ``bool``, ``name``, ``unknown`` (``?``), ``tuple``,
            ``call`` (``normal(0.01)``) or ``lookup`` (``{hidden}``).
        value: an ``int``, ``float``, ``bool`` or ``str`` (the name, or the looked-up
            name); ``None`` for ``?``; a tuple of values for a tuple; a pair
            ``(name, args)`` for a call.
        line: 1-based line in the cell body.
        column: 1-based column in that line.
    """

    kind: ValueKind
    value: object
    line: int
    column: int

    def __str__(self) -> str:
        """Spell the value as the DSL writes it, e.g. ``normal(0.01)``."""
        if self.kind == "bool":
            return "true" if self.value else "false"
        if self.kind == "unknown":
            return "?"
        if self.kind == "lookup":
            return f"{{{self.value}}}"
        inner = ", ".join(str(item) for item in self.items)
        if self.kind == "tuple":
            return f"({inner},)" if len(self.items) == 1 else f"({inner})"
        if self.kind == "call":
            return f"{self.call_name}({inner})"
        return str(self.value)

    @property
    def items(self) -> tuple[Value, ...]:
        """Return the values of a tuple or the arguments of a call, else ``()``."""
        if self.kind == "tuple":
            return cast("tuple[Value, ...]", self.value)
        if self.kind == "call":
            return cast("tuple[str, tuple[Value, ...]]", self.value)[1]
        return ()

    @property
    def call_name(self) -> str:
        """Return the initializer name of a call, else ``''``."""
        if self.kind == "call":
            return cast("tuple[str, tuple[Value, ...]]", self.value)[0]
        return ""


@dataclass(frozen=True)
class Option:
    """A ``key=value`` option; the position is the key's."""

    key: str
    value: Value
    line: int
    column: int


@dataclass(frozen=True)
class Layer:
    """A layer statement: ``[label =] kind values... key=value...``.

    Attributes:
        kind: the layer name as written (``dense``); the builder checks it.
        args: the positional values.
        options: the options, in the order written.
        label: the label, or ``None``.
        line: 1-based line in the cell body.
        column: column of ``kind``.
        label_column: column of the label, or ``None``.
        source_line: the text of the line, for error excerpts; not compared.
    """

    kind: str
    args: tuple[Value, ...] = ()
    options: tuple[Option, ...] = ()
    label: str | None = None
    line: int = 1
    column: int = 1
    label_column: int | None = None
    source_line: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Input:
    """The ``input (batch, 1, 28, 28)`` statement.

    Attributes:
        dims: ints >= 0, ``?`` (unknown), names (symbolic) or lookups.
        line: 1-based line in the cell body.
        column: column of ``input``.
        source_line: the text of the line, for error excerpts; not compared.
    """

    dims: tuple[Value, ...]
    line: int = 1
    column: int = 1
    source_line: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class Block:
    """A block header and its indented body.

    A ``residual`` block's optional ``shortcut`` block is the last statement of its
    body.

    Attributes:
        kind: ``residual``, ``repeat``, ``sequential`` or ``shortcut``.
        args: ``(count,)`` for ``repeat``, else empty.
        label: from ``label = residual:`` or ``sequential label:``, else ``None``.
        body: the statements of the block, in order.
        line: 1-based line of the header.
        column: column of the block's kind.
        label_column: column of the label, or ``None``.
        source_line: the text of the header line, for error excerpts; not compared.
    """

    kind: BlockKind
    args: tuple[Value, ...] = ()
    label: str | None = None
    body: tuple[Statement, ...] = ()
    line: int = 1
    column: int = 1
    label_column: int | None = None
    source_line: str = field(default="", compare=False, repr=False)


Statement = Layer | Input | Block


@dataclass(frozen=True)
class SyntaxErrorExamples:
    """A friendly label for the Lark errors that its known-bad examples produce.

    An error is given this label when Lark fails in the same parser state (and, for
    a first choice, on the same kind of token) as on one of the examples.
    """

    message: str
    hint: str
    examples: tuple[str, ...]


SYNTAX_ERROR_EXAMPLES: tuple[SyntaxErrorExamples, ...] = (
    SyntaxErrorExamples(
        "an option has no value after '='.",
        "Write the value right after '=', for example act=relu or kernel=3.",
        ("dense 10 act=", "dense act=", "dense 10 act= :", "dense 10 act==relu"),
    ),
    SyntaxErrorExamples(
        "a label needs a layer after '='.",
        "Write the layer after the label, for example 'fc1 = dense 10'.",
        ("fc1 =", "fc1 = 10", "fc1 = (3, 3)", "fc1 = {hidden}", "fc1 = ?"),
    ),
    SyntaxErrorExamples(
        "a statement can only have one label.",
        "Write one label, then '=', then the layer, for example 'fc1 = dense 10'.",
        ("fc1 = fc2 = dense 10", "a = b = c"),
    ),
    SyntaxErrorExamples(
        "a statement must start with a layer, a block or a label.",
        "Start the line with a layer ('dense 10'), a label ('fc1 = dense 10') or a "
        "block ('residual:').",
        ("= dense 10", "10 dense", "(3, 3)", ": relu", "{hidden}", "?", "-1"),
    ),
    SyntaxErrorExamples(
        "values in a tuple or a call are separated by commas.",
        "Put a comma between the values, for example (batch, 1, 28, 28).",
        (
            "input (batch 1, 28)",
            "input (batch, 1 28)",
            "input (1 (2, 3))",
            "dense 10 init=normal(0.01 2)",
            "input (batch, ?, {n} 3)",
            "input ((1, 2) 3)",
            "input (? 3)",
            "input (normal(1) 3)",
            "input ({n} 3)",
        ),
    ),
    SyntaxErrorExamples(
        "'(' is not closed before the end of the line.",
        "Close it with ')' on the same line: a statement cannot continue on the "
        "next line.",
        (
            "input (batch, 3",
            "input (batch,",
            "input (",
            "input ((1, 2)",
            "input (?",
            "input ({n}",
            "dense 10 init=normal(0.01",
            "dense 10 init=normal(",
            "dense 10 init=normal(0.01,",
            "input (batch, 1, 2,",
            "input (batch, 1, 2",
            "dense 10 init=normal(0.01, 1, 2,",
        ),
    ),
    SyntaxErrorExamples(
        "a tuple or a call has a comma with no value before it.",
        "Remove the extra comma, or write a value before it.",
        ("input (, 3)", "input (1, , 3)", "dense 10 init=normal(, 1)"),
    ),
    SyntaxErrorExamples(
        "'=' can only follow the key of an option.",
        "Options are written key=value after the layer's values; calls and tuples "
        "take plain values, for example normal(0.01). If a value is missing before "
        "this '=', write it.",
        (
            "dense 10 init=normal(sigma=0.01)",
            "input (batch=2, 3)",
            "dense 10 act=relu=2",
            "dense 10 = 3",
            "dense 10 init=xavier(1)=2",
        ),
    ),
    SyntaxErrorExamples(
        "'{' is not closed by '}'.",
        "A lookup is one name in braces, for example {hidden}.",
        ("dense {hidden", "dense {hidden 10", "dense {hidden act=relu"),
    ),
    SyntaxErrorExamples(
        "a lookup needs a name inside '{ }'.",
        "Write a Python variable name in braces, for example {hidden}; the value "
        "is taken from the notebook's namespace.",
        ("dense {1x}", "dense {1}", "dense {}", "dense {", "dense {-1}", "dense {(}"),
    ),
    SyntaxErrorExamples(
        "':' must end the line: it closes a block header.",
        "Put the block's statements on the following lines, indented under it.",
        ("repeat 2: dense 10", "residual: relu", "dense 10 ::"),
    ),
)

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "CALL_OPEN": "an initializer call such as normal(0.01)",
    "LBRACE": "a lookup such as {hidden}",
    "QMARK": "'?'",
    "LPAR": "'('",
    "RPAR": "')'",
    "RBRACE": "'}'",
    "COMMA": "','",
    "EQUAL": "'='",
    "COLON": "':'",
    "$END": "the end of the line",
}
_VALUE_TERMINALS = {"INT", "FLOAT", "CALL_OPEN", "LBRACE", "QMARK", "LPAR"}


@functools.cache
def _lark() -> Lark:
    grammar = Path(__file__).with_name("grammar.lark").read_text(encoding="utf-8")
    # The basic lexer is markedly faster than the contextual one, and this
    # grammar's terminals never need the parser state to be told apart.
    return Lark(grammar, parser="lalr", lexer="basic", maybe_placeholders=True)


def _error_key(error: UnexpectedInput) -> tuple[object, str]:
    """Return the parser state and the kind of token that a Lark error failed on."""
    state = getattr(error.state, "position", error.state)
    if isinstance(error, UnexpectedToken):
        return state, str(error.token.type)
    return state, "<characters>"


@functools.cache
def _example_index() -> tuple[
    dict[tuple[object, str], SyntaxErrorExamples], dict[object, SyntaxErrorExamples]
]:
    """Replay every known-bad example and index its label by where Lark failed."""
    exact: dict[tuple[object, str], SyntaxErrorExamples] = {}
    by_state: dict[object, SyntaxErrorExamples] = {}
    for entry in SYNTAX_ERROR_EXAMPLES:
        for example in entry.examples:
            try:
                _lark().parse(example)
            except UnexpectedInput as error:
                key = _error_key(error)
                exact.setdefault(key, entry)
                by_state.setdefault(key[0], entry)
            else:
                raise RuntimeError(f"the bad example {example!r} parses")
    return exact, by_state


@dataclass
class _Line:
    """One non-blank line of the body, with its comment removed."""

    number: int
    text: str  # the whole line, for the error excerpt
    code: str  # the line up to its comment
    indent: int

    @property
    def end_column(self) -> int:
        """Return the column just past the line's last character of code."""
        return len(self.code.rstrip()) + 1

    def error(self, message: str, column: int, hint: str = "") -> LazyNetSyntaxError:
        """Return a syntax error at ``column`` of this line."""
        return LazyNetSyntaxError(message, self.number, column, self.text, hint)


@dataclass
class _Header:
    """A block header whose body is still being read."""

    kind: BlockKind
    args: tuple[Value, ...]
    label: str | None
    label_column: int | None
    line: _Line
    column: int


@dataclass
class _Open:
    """A block being filled: the top level, or a header and the body read so far."""

    indent: int
    header: _Header | None
    body: list[Statement] = field(default_factory=list)
    shortcut: Block | None = None


def parse(text: str) -> list[Statement]:
    """Parse a ``%%lazynet`` cell body into its top-level statements.

    Args:
        text: the cell body, without the ``%%lazynet`` line.

    Returns:
        The statements in order; blocks hold their bodies.

    Raises:
        LazyNetSyntaxError: for any mistake, at a 1-based line and column of the body.
    """
    __tracebackhide__ = True
    texts = _LINE_BREAK.split(text)
    nesting = _Nesting()
    for line in _split_lines(texts):
        nesting.add(line, _parse_statement(line))
    statements = nesting.finish()
    if not any(not isinstance(statement, Input) for statement in statements):
        raise _no_layers(texts, statements)
    return statements


def _split_lines(texts: list[str]) -> Iterable[_Line]:
    """Yield each line that holds a statement, checking its indentation."""
    __tracebackhide__ = True
    for number, line_text in enumerate(texts, start=1):
        code = line_text.split("#", 1)[0]
        if not code.strip():
            continue
        blanks = code[: len(code) - len(code.lstrip(" \t"))]
        if "\t" in blanks:
            raise LazyNetSyntaxError(
                "a tab in the indentation.",
                number,
                blanks.index("\t") + 1,
                line_text,
                "Indent with spaces only, for example four per block level.",
            )
        yield _Line(number, line_text, code, len(blanks))


def _no_layers(texts: list[str], statements: list[Statement]) -> LazyNetSyntaxError:
    """Say that the body has no layers, at its input line if it has one."""
    line, column, what = 1, 1, "the cell declares no layers."
    if statements:
        line = statements[0].line
        column = len(texts[line - 1].split("#", 1)[0].rstrip()) + 1
        what = "the cell declares no layers, only its input."
    hint = (
        "Write one statement per line, for example:\n"
        "    dense 256 act=relu\n"
        "    dense 10"
    )
    return LazyNetSyntaxError(what, line, column, texts[line - 1], hint)


@functools.lru_cache(maxsize=4096)
def _parse_code(code: str) -> Tree:
    """Lark's tree for one line's code. Nets repeat lines (a stack of identical
    layers), and the tree depends on the text alone, its columns being counted
    within the line, so each distinct line is parsed once. The tree is only read."""
    return _lark().parse(code)


# "label = " at the start of a line, before the layer's name.
_LABEL = re.compile(r"([ \t]*)([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(?=[A-Za-z_])")
# Whether lines that differ only in their label share one parse (see below).
_SHARE_LABELLED_PARSES = True


def _labelled_tree(code: str) -> tuple[Tree, _Word] | None:
    """The statement tree of ``code`` with its label blanked out, and the label,
    if that parse stands for the whole line's.

    Cells label many lines that are otherwise alike (``fc1 = dense 64``, ``fc2 =
    dense 64``). Blanking the label with spaces keeps every column, and lines
    alike but for their labels of one length then share one cached parse. When
    the rest does not parse on its own, or holds a label itself, the whole line
    is parsed instead, so errors are exactly those of the whole line.
    """
    found = _LABEL.match(code)
    if found is None or not _SHARE_LABELLED_PARSES:
        return None
    start, end = found.end(1), found.end()
    try:
        tree = _parse_code(code[:start] + " " * (end - start) + code[end:])
    except LarkError:
        return None
    statement = tree.children[0]
    if not isinstance(statement, Tree) or statement.children[0] is not None:
        return None
    return statement, _Word(found.group(2), start + 1)


def _parse_statement(line: _Line) -> Statement | _Header:
    """Parse one line into a layer, an input statement or a block header."""
    __tracebackhide__ = True
    _check_nesting(line)
    labelled = _labelled_tree(line.code)
    if labelled is not None:
        return _Statement(line, *labelled).build()
    try:
        tree = _parse_code(line.code)
    except UnexpectedInput as error:
        raise _friendly(error, line) from None
    except LarkError as error:
        raise line.error(
            "this line cannot be read.", 1, f"The parser reported: {error}"
        ) from None
    statement = tree.children[0]
    assert isinstance(statement, Tree)
    return _Statement(line, statement).build()


@dataclass(frozen=True)
class _Word:
    """The text and column of one token."""

    text: str
    column: int


def _word(node: object) -> _Word:
    assert isinstance(node, Token)
    return _Word(str(node), node.column or 1)


def _check_nesting(line: _Line) -> None:
    """Refuse parentheses nested absurdly deep before Lark sees them."""
    depth = 0
    for index, char in enumerate(line.code):
        if char in "({":
            depth += 1
            if depth > _MAX_NESTING:
                raise line.error(
                    f"parentheses nest more than {_MAX_NESTING} deep.",
                    index + 1,
                    "Write a flat tuple of values, for example (3, 3).",
                )
        elif char in ")}":
            depth -= 1


def _friendly(error: UnexpectedInput, line: _Line) -> LazyNetSyntaxError:
    """Turn a Lark error into a syntax error that says what was expected."""
    exact, by_state = _example_index()
    key = _error_key(error)
    at_end = isinstance(error, UnexpectedToken) and error.token.type == "$END"
    column = line.end_column if at_end else max(int(error.column), 1)
    if line.code[column - 1 : column] == "=":
        # 'kernel= padding=1': the next option's key was read as the value.
        empty = re.search(
            r"([A-Za-z_]\w*)=\s+([A-Za-z_]\w*)\s*$", line.code[: column - 1]
        )
        if empty:
            return line.error(
                f"option '{empty.group(1)}' has no value, so '{empty.group(2)}' was "
                "read as its value.",
                empty.start(1) + 1,
                f"Write the value right after '=' ({empty.group(1)}=...), or remove "
                f"'{empty.group(1)}='.",
            )
    if key in exact:
        return line.error(exact[key].message, column, exact[key].hint)
    expected = _expect(_accepted(error))
    if isinstance(error, UnexpectedCharacters):
        return line.error(_stray(line.code, column), column, expected)
    if key[0] in by_state:
        return line.error(by_state[key[0]].message, column, by_state[key[0]].hint)
    if at_end and "RPAR" in _accepted(error):
        return line.error(
            "'(' is not closed before the end of the line.", column, expected
        )
    if at_end:
        return line.error("the line ends too early.", column, expected)
    found = str(getattr(error, "token", "")) or "this"
    return line.error(f"unexpected '{found}'.", column, expected)


def _accepted(error: UnexpectedInput) -> set[str]:
    """Return the tokens that would have let the parser go on."""
    interactive = getattr(error, "interactive_parser", None)
    if interactive is not None:
        return set(interactive.accepts())
    if isinstance(error, UnexpectedCharacters):
        return set(error.allowed or ())
    return set(getattr(error, "expected", ()))


def _stray(code: str, column: int) -> str:
    """Describe the characters no token matches, starting at ``column``."""
    match = _WORD.match(code, column - 1)
    word = match.group() if match else ""
    if len(word) > 1 and any(char.isalnum() for char in word):
        return f"'{word}' is neither a number nor a name."
    char = code[column - 1] if column <= len(code) else ""
    shown = char if char.isprintable() else repr(char)[1:-1]
    return f"unexpected character '{shown}'."


def _expect(terminals: set[str]) -> str:
    """Say in words which tokens would have been accepted."""
    names = set(terminals)
    words = []
    if names & _VALUE_TERMINALS:
        words.append("a value (a number, a name, '?', a tuple, a call or a {lookup})")
        names -= _VALUE_TERMINALS | {"NAME"}
    words += sorted(_TERMINAL_WORDS[name] for name in names if name in _TERMINAL_WORDS)
    if not words:
        return "Check the line against the statements in '%%lazynet?'."
    if len(words) > 1:
        return f"Expected {', '.join(words[:-1])} or {words[-1]}."
    return f"Expected {words[0]}."


class _Statement:
    """Check the parts of one parsed line and turn them into a statement."""

    def __init__(
        self, line: _Line, tree: Tree[Token], label_word: _Word | None = None
    ) -> None:
        self.line = line
        label, kind, *items, colon = tree.children
        self.label = _word(label.children[0]) if isinstance(label, Tree) else None
        if label_word is not None:  # parsed apart from the rest of the line
            self.label = label_word
        self.kind = _word(kind)
        self.colon = _word(colon) if colon is not None else None
        self.args: list[Value] = []
        self.options: list[Option] = []
        for item in items:
            assert isinstance(item, Tree)
            self._add_item(item)

    def _add_item(self, item: Tree[Token]) -> None:
        if item.data != "option":
            value = self._value(item)
            if self.options:
                raise self._value_after_option(value)
            self.args.append(value)
            return
        key = _word(item.children[0])
        for option in self.options:
            if option.key == key.text:
                raise self.line.error(
                    f"option '{key.text}' is given twice.",
                    key.column,
                    f"Keep one '{key.text}=' (the first is at column {option.column}).",
                )
        value_tree = item.children[2]
        assert isinstance(value_tree, Tree)
        value = self._value(value_tree)
        self.options.append(Option(key.text, value, self.line.number, key.column))

    def _value_after_option(self, value: Value) -> LazyNetSyntaxError:
        last = self.options[-1]
        hint = "Write the positional values first, then the key=value options."
        if last.value.kind == "name" and value.kind == "tuple":
            hint = (
                "To call an initializer, write '(' right after its name, for "
                f"example {last.key}={last.value}{value}. " + hint
            )
        return self.line.error(
            f"the value '{value}' comes after option '{last.key}'.",
            value.column,
            hint,
        )

    def _value(self, tree: Tree[Token]) -> Value:
        """Convert a value subtree; nesting is bounded by ``_check_nesting``."""
        kind = str(tree.data)
        words = [_word(child) for child in tree.children if isinstance(child, Token)]
        first = words[0].text
        number, column = self.line.number, words[0].column
        if kind == "int":
            try:
                return Value("int", int(first), number, column)
            except ValueError:
                raise self.line.error(
                    "this integer has too many digits.",
                    column,
                    "Write a number a layer can use.",
                ) from None
        if kind == "float":
            return Value("float", float(first), number, column)
        if kind == "name":
            if first in ("true", "false"):
                return Value("bool", first == "true", number, column)
            return Value("name", first, number, column)
        if kind == "unknown":
            return Value("unknown", None, number, column)
        if kind == "lookup":
            return Value("lookup", words[1].text, number, column)
        values = tuple(
            self._value(child) for child in tree.children if isinstance(child, Tree)
        )
        if kind == "call":
            return Value("call", (first[:-1], values), number, column)
        return Value("tuple", values, number, column)

    def build(self) -> Statement | _Header:
        __tracebackhide__ = True
        if self.colon is not None:
            return self._header()
        if self.kind.text in BLOCK_KINDS:
            raise self.line.error(
                f"the block header '{self.kind.text}' does not end with ':'.",
                self.line.end_column,
                f"Write '{self._spelling()}:' and indent the block's statements "
                "under it.",
            )
        if self.kind.text == "input":
            return self._input()
        return Layer(
            self.kind.text,
            tuple(self.args),
            tuple(self.options),
            self.label.text if self.label is not None else None,
            self.line.number,
            self.kind.column,
            self.label.column if self.label is not None else None,
            self.line.text,
        )

    def _spelling(self) -> str:
        return " ".join([self.kind.text, *(str(arg) for arg in self.args)])

    def _input(self) -> Input:
        example = "Write the input's shape as a tuple, for example input (batch, 20)."
        if self.label is not None:
            raise self.line.error("'input' takes no label.", self.label.column, example)
        if self.options:
            raise self.line.error(
                "'input' takes no options.", self.options[0].column, example
            )
        if not self.args:
            raise self.line.error(
                "'input' needs a shape.", self.line.end_column, example
            )
        shape = self.args[0]
        if shape.kind != "tuple" or not shape.value:
            raise self.line.error(
                f"'input' needs a tuple of dimensions, not '{shape}'.",
                shape.column,
                example,
            )
        if len(self.args) > 1:
            raise self.line.error(
                "'input' takes one tuple of dimensions.", self.args[1].column, example
            )
        for dim in shape.items:
            negative = isinstance(dim.value, int) and dim.value < 0
            if dim.kind not in ("int", "unknown", "name", "lookup") or negative:
                raise self.line.error(
                    f"'{dim}' is not a dimension.",
                    dim.column,
                    "A dimension is an integer >= 0, '?' for unknown, a name such "
                    "as batch, or a {lookup}.",
                )
        return Input(shape.items, self.line.number, self.kind.column, self.line.text)

    def _header(self) -> _Header:
        kind, colon = self.kind.text, self.colon
        assert colon is not None
        if kind not in BLOCK_KINDS:
            close = difflib.get_close_matches(kind, BLOCK_KINDS, n=1)
            guess = f" Did you mean '{close[0]}'?" if close else ""
            raise self.line.error(
                f"'{kind}' is not a block, so its line cannot end with ':'.",
                colon.column,
                f"Blocks are {_BLOCKS_SPELLED}; remove the ':' after a layer.{guess}",
            )
        if self.options:
            raise self.line.error(
                f"the block header '{kind}:' takes no options.",
                self.options[0].column,
                "Give the options to the layers inside the block.",
            )
        label = self.label.text if self.label is not None else None
        label_column = self.label.column if self.label is not None else None
        args = list(self.args)
        if kind == "sequential" and args:
            name = args.pop(0)
            if name.kind != "name" or label is not None:
                raise self.line.error(
                    f"'{name}' cannot label this sequential block.",
                    name.column,
                    "Write 'sequential:', 'sequential features:' or "
                    "'features = sequential:'.",
                )
            label, label_column = str(name.value), name.column
        if kind == "repeat":
            if not args:
                raise self.line.error(
                    "'repeat' needs a count.",
                    colon.column,
                    "Write 'repeat N:' with N a number, for example 'repeat 2:'.",
                )
            args.pop(0)
        if kind == "shortcut" and label is not None:
            raise self.line.error(
                "'shortcut:' takes no label.",
                label_column or 1,
                "Its layers are named under 'shortcut' in the residual.",
            )
        if args:
            raise self.line.error(
                f"the block header '{kind}:' has a value too many: '{args[0]}'.",
                args[0].column,
                f"Blocks are written {_BLOCKS_SPELLED}.",
            )
        count = tuple(self.args) if kind == "repeat" else ()
        return _Header(
            cast("BlockKind", kind),
            count,
            label,
            label_column,
            self.line,
            self.kind.column,
        )


class _Nesting:
    """Fit statements into blocks by their indentation, checking the structure."""

    def __init__(self) -> None:
        self.stack = [_Open(indent=0, header=None)]
        self.waiting: _Header | None = None  # a header whose body has not started
        self.input_line: int | None = None

    def add(self, line: _Line, statement: Statement | _Header) -> None:
        __tracebackhide__ = True
        self._indent(line)
        self._check_place(line, statement)
        if isinstance(statement, _Header):
            self.waiting = statement
            return
        if isinstance(statement, Input):
            self.input_line = line.number
        self.stack[-1].body.append(statement)

    def finish(self) -> list[Statement]:
        __tracebackhide__ = True
        if self.waiting is not None:
            raise self._no_body(self.waiting)
        while len(self.stack) > 1:
            self._close()
        return self.stack[0].body

    def _indent(self, line: _Line) -> None:
        """Open or close blocks so that ``line`` belongs to the innermost one."""
        __tracebackhide__ = True
        column = line.indent + 1
        if self.waiting is not None:
            header, self.waiting = self.waiting, None
            if line.indent <= header.line.indent:
                raise self._no_body(header)
            if len(self.stack) >= _MAX_NESTING:
                raise header.line.error(
                    f"blocks nest more than {_MAX_NESTING} deep.",
                    header.column,
                    "Use 'repeat N:' instead of nesting copies of a block.",
                )
            self.stack.append(_Open(indent=line.indent, header=header))
            return
        if line.indent > self.stack[-1].indent:
            raise line.error(
                "unexpected indent.",
                column,
                "Only the statements of a block (under a line ending in ':') are "
                f"indented; indent this line by {self.stack[-1].indent} spaces like "
                "the one above it.",
            )
        levels = [level.indent for level in self.stack]
        if line.indent not in levels:
            spaces = " or ".join(str(level) for level in levels[::-1])
            raise line.error(
                f"the indentation ({line.indent} spaces) matches no enclosing block.",
                column,
                f"Indent this line by {spaces} spaces, like a line of the block it "
                "belongs to.",
            )
        while line.indent < self.stack[-1].indent:
            self._close()

    def _check_place(self, line: _Line, statement: Statement | _Header) -> None:
        """Check where an input or a shortcut may stand, before adding it."""
        __tracebackhide__ = True
        current = self.stack[-1]
        column = statement.column
        if isinstance(statement, Input):
            if self.input_line is not None:
                raise line.error(
                    f"the cell already declares its input on line {self.input_line}.",
                    column,
                    "Keep one 'input' statement, as the first line.",
                )
            if current.header is not None or current.body:
                raise line.error(
                    "'input' can only be the first statement of the cell.",
                    column,
                    "Move it to the top, outside every block: it declares the shape "
                    "of the data the net receives.",
                )
        in_residual = current.header is not None and current.header.kind == "residual"
        if isinstance(statement, _Header) and statement.kind == "shortcut":
            if not in_residual:
                raise line.error(
                    "'shortcut:' outside a residual block.",
                    column,
                    "Indent it as the last statement of a 'residual:' block; it "
                    "computes what is added to the residual's output.",
                )
            if current.shortcut is not None:
                raise line.error(
                    "a second 'shortcut:' in one residual block.",
                    column,
                    f"Keep the one on line {current.shortcut.line}.",
                )
        elif current.shortcut is not None:
            raise line.error(
                "a statement after the residual's 'shortcut:' block.",
                column,
                f"'shortcut:' (line {current.shortcut.line}) must come last in its "
                "residual: move this line above it, or indent it into the shortcut.",
            )

    def _close(self) -> None:
        """Finish the innermost block and add it to its parent."""
        __tracebackhide__ = True
        current = self.stack.pop()
        header = current.header
        assert header is not None
        if header.kind == "residual" and len(current.body) == 1 and current.shortcut:
            raise header.line.error(
                "this residual block has a shortcut but no layers of its own.",
                header.column,
                "Write the residual's layers before its 'shortcut:'.",
            )
        block = Block(
            header.kind,
            header.args,
            header.label,
            tuple(current.body),
            header.line.number,
            header.column,
            header.label_column,
            header.line.text,
        )
        parent = self.stack[-1]
        parent.body.append(block)
        if block.kind == "shortcut":
            parent.shortcut = block

    def _no_body(self, header: _Header) -> LazyNetSyntaxError:
        spelling = " ".join([header.kind, *(str(arg) for arg in header.args)])
        return header.line.error(
            f"the block '{spelling}:' has no indented body.",
            header.line.end_column,
            "Write the block's statements on the next lines, indented further than "
            f"'{header.kind}', for example by {header.line.indent + 4} spaces.",
        )
