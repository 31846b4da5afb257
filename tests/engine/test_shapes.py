"""Shapes with unknown and symbolic dimensions: formatting, checking, arithmetic."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazymagic import ShapeError
from lazymagic.engine.shapes import (
    format_shape,
    is_complete,
    multiply,
    normalize_shape,
    window_arithmetic,
    window_output,
)


def out_size(n, k, s, p, d):
    """``floor((n + 2p - d(k-1) - 1) / s) + 1``."""
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


def evaluate(formula, **names):
    """Evaluate a symbolic dimension such as ``'(H-2)//2+1'`` or ``'16·H'``."""
    return eval(formula.replace("·", "*"), {"__builtins__": {}}, names)


def test_format_shape_marks_unknown_dimensions():
    assert format_shape((256, None)) == "(256, ?)"
    assert format_shape((None,)) == "(?,)"
    assert format_shape(()) == "()"
    assert format_shape(("batch", 3, None)) == "(batch, 3, ?)"


def test_is_complete_only_for_all_int_shapes():
    assert is_complete((1, 2, 3))
    assert is_complete(())
    assert not is_complete((1, None))
    assert not is_complete(("batch", 2))


def test_normalize_shape_accepts_ints_names_none_and_numpy_ints():
    assert normalize_shape(("batch", np.int64(3), None, "?", " H ")) == (
        "batch",
        3,
        None,
        None,
        "H",
    )
    assert normalize_shape(7) == (7,)
    assert normalize_shape([2, 0]) == (2, 0)


@pytest.mark.parametrize(
    "bad, pattern",
    [((2, -1), "negative"), ((True, 2), "bool"), ((2.5, 3), "2.5"), ((2, ""), "''")],
)
def test_normalize_shape_refuses_what_is_not_a_dimension(bad, pattern):
    with pytest.raises(ShapeError, match=pattern):
        normalize_shape(bad)


def test_normalize_shape_refuses_a_non_sequence():
    with pytest.raises(ShapeError, match="tuple of dimensions"):
        normalize_shape(3.5)


def test_multiply_known_dimensions_gives_an_int():
    assert multiply([16, 5, 5]) == 400
    assert multiply([]) == 1
    assert multiply([3, 0, "H"]) == 0


def test_multiply_with_names_gives_a_formula_that_evaluates_right():
    formula = multiply([16, "H", "(W-4)//2+1"])
    assert isinstance(formula, str)
    for h, w in [(1, 4), (5, 9), (8, 30)]:
        assert evaluate(formula, H=h, W=w) == 16 * h * ((w - 4) // 2 + 1)


def test_multiply_with_an_unknown_dimension_is_unknown():
    assert multiply([3, None, 4]) is None


@pytest.mark.parametrize(
    "n, k, s, p, d",
    [
        (28, 5, 1, 2, 1),
        (32, 3, 2, 1, 1),
        (3, 3, 1, 0, 1),
        (10, 3, 1, 0, 3),
        (7, 2, 3, 1, 1),
    ],
)
def test_window_output_follows_the_formula(n, k, s, p, d):
    assert window_output(n, k, s, p, d) == out_size(n, k, s, p, d)


def test_window_output_returns_a_non_positive_size_for_the_caller_to_report():
    assert window_output(3, 5, 1, 0) == out_size(3, 5, 1, 0, 1) == -1
    assert window_output(4, 5, 1, 0) == 0


def test_window_output_of_an_unknown_size_is_unknown():
    assert window_output(None, 3, 1, 1) is None


@settings(max_examples=200, deadline=None, database=None)
@given(
    n=st.integers(1, 200),
    k=st.integers(1, 7),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_symbolic_window_output_evaluates_to_the_integer_one(n, k, s, p, d):
    formula = window_output("H", k, s, p, d)
    assert isinstance(formula, str)
    assert evaluate(formula, H=n) == out_size(n, k, s, p, d)


def test_window_arithmetic_writes_out_the_numbers():
    text = window_arithmetic(4, 5, 1, 0, 1)
    assert "4" in text and "5" in text
    assert text.endswith(f"= {out_size(4, 5, 1, 0, 1)}")
