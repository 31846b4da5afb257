"""Tests of the ``%%lazynet`` parser: the AST of valid cells and every kind of error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazymagic.dsl.parser import (
    SYNTAX_ERROR_EXAMPLES,
    Block,
    Input,
    Layer,
    Option,
    Value,
    parse,
)
from lazymagic.errors import LazyNetSyntaxError

# The DSL examples of the product description, verbatim, comments included.
CELLS = {
    path.stem: path.read_text()
    for path in (Path(__file__).parent / "cells").glob("*.lazy")
}
LENET, RESNET = CELLS["lenet"], CELLS["resnet"]
SHORTCUT, EMBEDDING = CELLS["shortcut"], CELLS["embedding"]

VALID_CELLS = [LENET, RESNET, SHORTCUT, EMBEDDING]


def v(kind: str, value: object, line: int, column: int) -> Value:
    return Value(kind, value, line, column)  # type: ignore[arg-type]


def int_opt(key: str, number: int, line: int, column: int) -> Option:
    return Option(key, v("int", number, line, column + len(key) + 1), line, column)


def name_opt(key: str, name: str, line: int, column: int) -> Option:
    return Option(key, v("name", name, line, column + len(key) + 1), line, column)


def error_of(text: str) -> LazyNetSyntaxError:
    with pytest.raises(LazyNetSyntaxError) as info:
        parse(text)
    return info.value


def test_lenet_cell_parses_to_layers_with_positions():
    assert parse(LENET) == [
        Input(
            (
                v("name", "batch", 1, 8),
                v("int", 1, 1, 15),
                v("int", 28, 1, 18),
                v("int", 28, 1, 22),
            ),
            line=1,
            column=1,
        ),
        Layer(
            "conv2d",
            (v("int", 6, 2, 8),),
            (
                int_opt("kernel", 5, 2, 10),
                int_opt("padding", 2, 2, 19),
                name_opt("act", "sigmoid", 2, 29),
            ),
            line=2,
            column=1,
        ),
        Layer(
            "avgpool2d",
            (),
            (int_opt("kernel", 2, 3, 11), int_opt("stride", 2, 3, 20)),
            line=3,
            column=1,
        ),
        Layer(
            "conv2d",
            (v("int", 16, 4, 8),),
            (int_opt("kernel", 5, 4, 11), name_opt("act", "sigmoid", 4, 20)),
            line=4,
            column=1,
        ),
        Layer(
            "avgpool2d",
            (),
            (int_opt("kernel", 2, 5, 11), int_opt("stride", 2, 5, 20)),
            line=5,
            column=1,
        ),
        Layer("flatten", line=6, column=1),
        Layer(
            "dense",
            (v("int", 120, 7, 13),),
            (name_opt("act", "sigmoid", 7, 17),),
            label="fc1",
            line=7,
            column=7,
            label_column=1,
        ),
        Layer(
            "dense",
            (v("int", 84, 8, 7),),
            (name_opt("act", "sigmoid", 8, 10), name_opt("init", "xavier", 8, 22)),
            line=8,
            column=1,
        ),
        Layer("dense", (v("int", 10, 9, 7),), line=9, column=1),
    ]


def test_repeat_of_residual_nests_bodies_by_indentation():
    statements = parse(RESNET)

    assert [type(s).__name__ for s in statements] == [
        "Input",
        "Layer",
        "Layer",
        "Layer",
        "Block",
        "Layer",
        "Layer",
    ]
    repeat = statements[4]
    assert isinstance(repeat, Block)
    assert (repeat.kind, repeat.args, repeat.label) == (
        "repeat",
        (v("int", 2, 5, 8),),
        None,
    )
    assert (repeat.line, repeat.column) == (5, 1)
    residual, relu = repeat.body
    assert isinstance(residual, Block)
    assert (residual.kind, residual.args, residual.line, residual.column) == (
        "residual",
        (),
        6,
        5,
    )
    assert relu == Layer("relu", line=12, column=5)
    assert [layer.kind for layer in residual.body] == [
        "conv2d",
        "batchnorm",
        "relu",
        "conv2d",
        "batchnorm",
    ]
    assert residual.body[0] == Layer(
        "conv2d",
        (v("int", 16, 7, 16),),
        (int_opt("kernel", 3, 7, 19), int_opt("padding", 1, 7, 28)),
        line=7,
        column=9,
    )
    assert statements[5:] == [
        Layer("globalavgpool", line=13, column=1),
        Layer("dense", (v("int", 10, 14, 7),), line=14, column=1),
    ]


def test_shortcut_is_the_last_statement_of_its_residual():
    statements = parse(SHORTCUT)

    assert len(statements) == 3
    residual = statements[1]
    assert isinstance(residual, Block)
    assert residual.kind == "residual"
    assert len(residual.body) == 6
    shortcut = residual.body[-1]
    assert shortcut == Block(
        "shortcut",
        body=(
            Layer(
                "conv2d",
                (v("int", 128, 9, 16),),
                (int_opt("kernel", 1, 9, 20), int_opt("stride", 2, 9, 29)),
                line=9,
                column=9,
            ),
        ),
        line=8,
        column=5,
    )
    assert statements[2] == Layer("relu", line=10, column=1)


def test_lookup_label_share_and_in_options_are_kept_unevaluated():
    statements = parse(EMBEDDING)

    assert statements[1] == Layer(
        "embedding", (v("int", 1000, 2, 11), v("int", 64, 2, 16)), line=2, column=1
    )
    assert statements[3] == Layer(
        "dense",
        (v("lookup", "hidden", 4, 7),),
        (name_opt("act", "relu", 4, 16),),
        line=4,
        column=1,
    )
    assert statements[4] == Layer(
        "dense",
        (v("int", 8, 5, 16),),
        (name_opt("act", "relu", 5, 18),),
        label="shared",
        line=5,
        column=10,
        label_column=1,
    )
    tied, last = statements[5:]
    assert isinstance(tied, Layer) and isinstance(last, Layer)
    assert tied.options[1] == name_opt("share", "shared", 6, 18)
    assert last.options == (int_opt("in", 8, 7, 9),)


def test_values_of_every_kind_parse_with_their_positions():
    (layer,) = parse("x -1 -0.5 1e-3 .5 true false ? (3,) () normal(0.01) {n} a")

    assert isinstance(layer, Layer)
    assert layer.args == (
        v("int", -1, 1, 3),
        v("float", -0.5, 1, 6),
        v("float", 1e-3, 1, 11),
        v("float", 0.5, 1, 16),
        v("bool", True, 1, 19),
        v("bool", False, 1, 24),
        v("unknown", None, 1, 30),
        v("tuple", (v("int", 3, 1, 33),), 1, 32),
        v("tuple", (), 1, 37),
        v("call", ("normal", (v("float", 0.01, 1, 47),)), 1, 40),
        v("lookup", "n", 1, 53),
        v("name", "a", 1, 57),
    )


def test_call_needs_its_parenthesis_right_after_the_name():
    (spaced,) = parse("x uniform (1, 2)")
    (call,) = parse("dense 10 init=uniform(-1, 2,)")

    assert isinstance(spaced, Layer) and isinstance(call, Layer)
    assert spaced.args == (
        v("name", "uniform", 1, 3),
        v("tuple", (v("int", 1, 1, 12), v("int", 2, 1, 15)), 1, 11),
    )
    assert call.options[0].value == v(
        "call", ("uniform", (v("int", -1, 1, 23), v("int", 2, 1, 27))), 1, 15
    )


def test_spaced_call_after_an_option_suggests_the_call_spelling():
    error = error_of("dense 10 init=uniform (1, 2)")

    assert (error.line, error.column) == (1, 23)
    assert "'(1, 2)' comes after option 'init'" in error.message
    assert "init=uniform(1, 2)" in error.hint


def test_values_spell_back_as_written():
    (layer,) = parse("x (1, ?) (2,) normal(0.5, b) {n} true -3")

    assert isinstance(layer, Layer)
    spelled = [str(arg) for arg in layer.args]
    assert spelled == ["(1, ?)", "(2,)", "normal(0.5, b)", "{n}", "true", "-3"]


def test_sequential_blocks_take_a_label_either_way():
    text = (
        "sequential features:\n  relu\n"
        "head = sequential:\n  relu\n"
        "r = residual:\n  relu"
    )

    first, second, third = parse(text)

    assert isinstance(first, Block) and isinstance(second, Block)
    assert (first.label, first.label_column, first.args) == ("features", 12, ())
    assert (second.label, second.label_column, second.column) == ("head", 1, 8)
    assert isinstance(third, Block) and third.label == "r"


def test_repeat_count_may_be_a_lookup():
    (block,) = parse("repeat {n}:\n dense 1")

    assert isinstance(block, Block)
    assert block.args == (v("lookup", "n", 1, 8),)


def test_comments_blank_lines_and_crlf_are_ignored():
    text = "# heading\r\n\r\n   # indented comment\r\ndense 10  # trailing\r\n\r\n"

    assert parse(text) == [Layer("dense", (v("int", 10, 4, 7),), line=4, column=1)]


def test_comment_lines_inside_a_block_do_not_break_it():
    text = "residual:\n# flush left\n    relu\n\n  # odd indent\n    relu\nrelu"

    block, last = parse(text)

    assert isinstance(block, Block)
    assert [s.line for s in block.body] == [3, 6]
    assert last == Layer("relu", line=7, column=1)


def test_tab_between_values_counts_as_one_column():
    (layer,) = parse("dense\t10")

    assert isinstance(layer, Layer)
    assert layer.args == (v("int", 10, 1, 7),)


def test_blocks_nest_freely():
    text = "repeat 2:\n sequential:\n  residual:\n   repeat 3:\n    relu\n  relu\nrelu"

    (outer, last) = parse(text)

    assert isinstance(outer, Block)
    (sequential,) = outer.body
    assert isinstance(sequential, Block)
    residual, relu = sequential.body
    assert isinstance(residual, Block)
    assert relu == Layer("relu", line=6, column=3)
    (inner,) = residual.body
    assert isinstance(inner, Block) and inner.kind == "repeat"
    assert inner.body == (Layer("relu", line=5, column=5),)
    assert last == Layer("relu", line=7, column=1)


@pytest.mark.parametrize(
    ("message", "example"),
    [
        (entry.message, example)
        for entry in SYNTAX_ERROR_EXAMPLES
        for example in entry.examples
    ],
)
def test_known_bad_example_gets_its_friendly_message(message, example):
    error = error_of(example)

    assert error.message == message
    assert error.line == 1
    assert 1 <= error.column <= len(example) + 1
    assert error.hint


def test_missing_option_value_points_past_the_end_of_the_line():
    error = error_of("dense 256 act=relu\ndense 10 act=   # oops")

    assert (error.line, error.column) == (2, 14)
    assert "no value after '='" in error.message
    assert "act=relu" in error.hint
    assert str(error).splitlines()[1:3] == [
        "    dense 10 act=   # oops",
        "                 ^",
    ]


def test_unclosed_parenthesis_points_past_the_end_of_the_line():
    error = error_of("input (batch, 3\ndense 10")

    assert (error.line, error.column) == (1, 16)
    assert "'(' is not closed" in error.message
    assert "same line" in error.hint


def test_label_without_a_layer_says_what_to_write():
    error = error_of("fc1 =")

    assert (error.line, error.column) == (1, 6)
    assert error.message == "a label needs a layer after '='."
    assert "fc1 = dense 10" in error.hint


def test_unclosed_lookup_brace_is_reported():
    error = error_of("dense {hidden")

    assert (error.line, error.column) == (1, 14)
    assert "'{' is not closed" in error.message


def test_lookup_of_something_that_is_not_a_name_is_reported():
    error = error_of("dense 10\ndense {1x}")

    assert (error.line, error.column) == (2, 8)
    assert "needs a name" in error.message
    assert "{hidden}" in error.hint


def test_stray_character_is_named_with_what_was_expected():
    error = error_of("dense 10 act=relu $")

    assert (error.line, error.column) == (1, 19)
    assert error.message == "unexpected character '$'."
    assert error.hint.startswith("Expected a value")
    assert "')'" not in error.hint


def test_control_character_is_shown_escaped():
    error = error_of("dense 1 \x0c")

    assert error.message == "unexpected character '\\x0c'."


def test_word_that_is_neither_number_nor_name_is_quoted_whole():
    error = error_of("dense 10x")

    assert (error.line, error.column) == (1, 7)
    assert error.message == "'10x' is neither a number nor a name."


def test_duplicated_option_key_points_at_the_second_one():
    error = error_of("dense 10 act=relu act=tanh")

    assert (error.line, error.column) == (1, 19)
    assert error.message == "option 'act' is given twice."
    assert "column 10" in error.hint


def test_positional_value_after_an_option_is_rejected():
    error = error_of("dense act=relu 10")

    assert (error.line, error.column) == (1, 16)
    assert "'10' comes after option 'act'" in error.message


def test_empty_body_says_the_cell_declares_no_layers():
    for text in ["", "\n\n", "# only a comment\n   \n# another"]:
        error = error_of(text)

        assert (error.line, error.column) == (1, 1)
        assert error.message == "the cell declares no layers."
        assert "dense 10" in error.hint


def test_input_alone_declares_no_layers():
    error = error_of("# shape only\ninput (batch, 3)  # comment\n")

    assert (error.line, error.column) == (2, 17)
    assert "no layers, only its input" in error.message


def test_unexpected_indent_points_at_the_statement():
    error = error_of("dense 10\n    relu")

    assert (error.line, error.column) == (2, 5)
    assert error.message == "unexpected indent."
    assert "0 spaces" in error.hint


def test_dedent_to_a_level_that_never_existed_lists_the_valid_ones():
    error = error_of("repeat 2:\n    residual:\n        relu\n  relu")

    assert (error.line, error.column) == (4, 3)
    assert "(2 spaces) matches no enclosing block" in error.message
    assert "8 or 4 or 0 spaces" in error.hint


def test_block_header_without_a_body_points_past_its_colon():
    error = error_of("dense 10\nresidual:  # body forgotten\nrelu")

    assert (error.line, error.column) == (2, 10)
    assert error.message == "the block 'residual:' has no indented body."
    assert "4 spaces" in error.hint


def test_block_header_at_the_end_has_no_body():
    error = error_of("dense 10\nrepeat 2:\n\n# nothing")

    assert (error.line, error.column) == (2, 10)
    assert "'repeat 2:' has no indented body" in error.message


def test_tab_in_indentation_is_rejected_at_the_tab():
    error = error_of("residual:\n  \tdense 10")

    assert (error.line, error.column) == (2, 3)
    assert error.message == "a tab in the indentation."
    assert "spaces" in error.hint


def test_shortcut_outside_a_residual_is_rejected():
    error = error_of("repeat 2:\n  shortcut:\n    dense 1")

    assert (error.line, error.column) == (2, 3)
    assert "outside a residual" in error.message


def test_statement_after_the_shortcut_is_rejected():
    error = error_of("residual:\n  relu\n  shortcut:\n    dense 1\n  relu")

    assert (error.line, error.column) == (5, 3)
    assert "after the residual's 'shortcut:'" in error.message
    assert "line 3" in error.hint


def test_second_shortcut_is_rejected():
    text = "residual:\n  relu\n  shortcut:\n    relu\n  shortcut:\n    relu"

    error = error_of(text)

    assert (error.line, error.column) == (5, 3)
    assert "second 'shortcut:'" in error.message


def test_residual_with_only_a_shortcut_is_rejected():
    error = error_of("residual:\n  shortcut:\n    dense 1")

    assert (error.line, error.column) == (1, 1)
    assert "no layers of its own" in error.message


def test_layer_line_ending_in_colon_is_rejected_at_the_colon():
    error = error_of("dense 10:")

    assert (error.line, error.column) == (1, 9)
    assert "'dense' is not a block" in error.message
    assert "repeat N:" in error.hint


def test_misspelled_block_suggests_the_closest_block():
    error = error_of("residul:\n  relu")

    assert (error.line, error.column) == (1, 8)
    assert error.hint.endswith("Did you mean 'residual'?")


def test_block_header_without_colon_is_rejected():
    error = error_of("repeat 2\n  relu")

    assert (error.line, error.column) == (1, 9)
    assert "does not end with ':'" in error.message
    assert "'repeat 2:'" in error.hint


@pytest.mark.parametrize(
    ("text", "column", "part"),
    [
        ("repeat:\n relu", 7, "'repeat' needs a count"),
        ("repeat 2 3:\n relu", 10, "a value too many: '3'"),
        ("residual 2:\n relu", 10, "a value too many"),
        ("residual act=relu:\n relu", 10, "takes no options"),
        ("s = shortcut:\n relu", 1, "takes no label"),
        ("sequential 3:\n relu", 12, "'3' cannot label"),
        ("a = sequential b:\n relu", 16, "'b' cannot label"),
    ],
)
def test_malformed_block_headers_are_rejected(text, column, part):
    error = error_of(text)

    assert (error.line, error.column) == (1, column)
    assert part in error.message


@pytest.mark.parametrize(
    ("text", "line", "column", "part"),
    [
        ("input\ndense 1", 1, 6, "needs a shape"),
        ("input 3\ndense 1", 1, 7, "tuple of dimensions, not '3'"),
        ("input ()\ndense 1", 1, 7, "tuple of dimensions, not '()'"),
        ("input (1, 2) (3,)\ndense 1", 1, 14, "one tuple"),
        ("x = input (1,)\ndense 1", 1, 1, "takes no label"),
        ("input (1,) a=1\ndense 1", 1, 12, "takes no options"),
        ("input (batch, -1)\ndense 1", 1, 15, "'-1' is not a dimension"),
        ("input (batch, 1.5)\ndense 1", 1, 15, "'1.5' is not a dimension"),
        ("input (true,)\ndense 1", 1, 8, "'true' is not a dimension"),
        ("dense 1\ninput (1,)", 2, 1, "only be the first statement"),
        ("input (1,)\ninput (1,)", 2, 1, "already declares its input on line 1"),
        ("repeat 2:\n  input (1,)", 2, 3, "only be the first statement"),
    ],
)
def test_misplaced_or_malformed_input_is_rejected(text, line, column, part):
    error = error_of(text)

    assert (error.line, error.column) == (line, column)
    assert part in error.message


def test_absurdly_deep_parentheses_are_refused():
    text = "input " + "(" * 60 + "1" + ")" * 60

    error = error_of(text)

    assert (error.line, error.column) == (1, 57)
    assert "nest more than 50 deep" in error.message


def test_absurdly_deep_blocks_are_refused():
    text = (
        "\n".join(" " * depth + "sequential:" for depth in range(60))
        + "\n"
        + " " * 60
        + "relu"
    )

    error = error_of(text)

    assert error.line == 50
    assert "blocks nest more than 50 deep" in error.message


def test_error_message_has_position_excerpt_caret_and_hint():
    error = error_of("dense 10\n  relu")

    assert str(error) == (
        "line 2, column 3: unexpected indent.\n      relu\n      ^\n" + error.hint
    )


def _lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def _check_parse(text: str) -> None:
    """Parse ``text``; the only error allowed is a positioned LazyNetSyntaxError.

    Lines are counted by splitting on line breaks, so an empty body is one empty
    line and an error never needs a line past the last one.
    """
    try:
        parse(text)
    except LazyNetSyntaxError as error:
        lines = _lines(text)
        assert 1 <= error.line <= len(lines)
        assert 1 <= error.column <= len(lines[error.line - 1]) + 1
        assert error.source_line == lines[error.line - 1]
        assert error.message and error.hint


DSL_ALPHABET = st.sampled_from(
    list("abdenrsluqt0123456789 \n\t#=:,(){}?.-+e_$!") + ["    ", "dense", "repeat"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(DSL_ALPHABET, max_size=60).map("".join))
def test_fuzz_text_of_dsl_characters_only_raises_positioned_errors(text):
    _check_parse(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_fuzz_arbitrary_text_only_raises_positioned_errors(text):
    _check_parse(text)


@st.composite
def mutated_cells(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(VALID_CELLS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        operation = draw(st.sampled_from(["delete", "insert", "duplicate"]))
        if operation == "insert":
            char = draw(st.sampled_from(list("()[]{}=:,#?\t\n -x1")))
            text = text[:position] + char + text[position:]
        elif operation == "delete":
            text = text[:position] + text[position + 1 :]
        else:
            text = text[:position] + text[position : position + 3] + text[position:]
    return text


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_cells())
def test_fuzz_mutated_valid_cells_only_raise_positioned_errors(text):
    _check_parse(text)


def test_every_valid_cell_parses():
    for text in VALID_CELLS:
        assert parse(text)


def test_option_without_value_before_another_option_names_the_empty_key():
    with pytest.raises(LazyNetSyntaxError) as e:
        parse("conv2d 16 kernel= padding=1")
    # 'kernel' starts at column 11 (1-based) of the line.
    assert (e.value.line, e.value.column) == (1, 11)
    assert "option 'kernel' has no value" in str(e.value)
    assert "'padding' was read as its value" in str(e.value)


def test_a_repeated_line_keeps_its_own_position():
    # The same text on lines 1 and 3 is parsed once; positions must still differ.
    statements = parse("dense 64 act=relu\nrelu\ndense 64 act=relu\n")
    assert [(s.line, s.args[0].line) for s in (statements[0], statements[2])] == [
        (1, 1),
        (3, 3),
    ]
    for _ in range(2):  # a bad line stays an error however often it is seen
        with pytest.raises(LazyNetSyntaxError) as e:
            parse("relu\ndense 10 act=\n")
        assert e.value.line == 2


def _outcome(text: str, share: bool, monkeypatch) -> object:
    """The statements ``text`` parses into, or its error, with or without lines
    alike but for their labels sharing one parse."""
    from lazymagic.dsl import parser

    monkeypatch.setattr(parser, "_SHARE_LABELLED_PARSES", share)
    parser._parse_code.cache_clear()
    try:
        return parse(text)
    except LazyNetSyntaxError as error:
        return ("error", str(error), error.line, error.column)


LABELLED_LINE = st.builds(
    lambda indent, label, gap, rest: f"{indent}{label}{gap}{rest}",
    st.sampled_from(["", "    "]),
    st.sampled_from(["fc1", "a", "_x9", "input", "dense", "residual", "b2"]),
    st.sampled_from([" = ", "=", "  =  ", " = = ", " =\t"]),
    st.lists(DSL_ALPHABET, max_size=30).map("".join),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(LABELLED_LINE, min_size=1, max_size=4).map("\n".join))
def test_labelled_lines_parse_alike_with_or_without_a_shared_parse(text):
    # The shortcut blanks the label out and parses the rest; any difference from
    # parsing the whole line (statements, positions, messages) is a bug.
    with pytest.MonkeyPatch.context() as patch:
        assert _outcome(text, True, patch) == _outcome(text, False, patch)


@pytest.mark.parametrize("text", VALID_CELLS)
def test_valid_cells_parse_alike_with_or_without_a_shared_parse(text, monkeypatch):
    assert _outcome(text, True, monkeypatch) == _outcome(text, False, monkeypatch)


def test_lines_alike_but_for_their_labels_share_one_parse(monkeypatch):
    from lazymagic.dsl import parser

    parser._parse_code.cache_clear()
    statements = parse("fc1 = dense 64\nfc2 = dense 64\nfc3 = dense 64\n")
    assert [(s.label, s.label_column, s.column) for s in statements] == [
        ("fc1", 1, 7),
        ("fc2", 1, 7),
        ("fc3", 1, 7),
    ]
    assert parser._parse_code.cache_info().misses == 1
