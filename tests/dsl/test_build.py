"""Tests of building ``lazymagic.nn`` blocks from parsed ``%%lazynet`` cells."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazymagic import init, nn
from lazymagic.dsl.build import LAYER_NAMES, build
from lazymagic.dsl.parser import parse
from lazymagic.errors import LazyNetSyntaxError


def _load_parser_tests():
    # The parser tests hold the PRODUCT.md cells; load them by path, since test
    # folders are not packages.
    path = Path(__file__).with_name("test_parser.py")
    spec = importlib.util.spec_from_file_location("_lazynet_parser_cells", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_cells = _load_parser_tests()
LENET, RESNET, SHORTCUT, EMBEDDING = (
    _cells.LENET,
    _cells.RESNET,
    _cells.SHORTCUT,
    _cells.EMBEDDING,
)


def built(text: str, namespace: dict[str, object] | None = None):
    return build(parse(text), namespace)


def error_of(text: str, namespace: dict[str, object] | None = None):
    with pytest.raises(LazyNetSyntaxError) as info:
        built(text, namespace)
    return info.value


def test_lenet_cell_declares_the_layers_it_names():
    net, shape = built(LENET)

    assert shape == ("batch", 1, 28, 28)
    assert net.input_shape == shape
    assert [type(layer).__name__ for layer in net] == [
        "Conv2D",
        "AvgPool2D",
        "Conv2D",
        "AvgPool2D",
        "Flatten",
        "Dense",
        "Dense",
        "Dense",
    ]
    conv = net[0]
    assert (conv.channels, conv.kernel_size, conv.padding) == (6, (5, 5), (2, 2))
    assert conv.activation == "sigmoid"
    assert (net[1].pool_size, net[1].strides) == ((2, 2), (2, 2))
    assert net["fc1"] is net[5]
    assert (net[5].units, net[5].activation) == (120, "sigmoid")
    assert isinstance(net[6].weight.own_init, init.Xavier)
    assert net[7].activation is None


def test_lenet_cell_infers_the_flatten_size_from_its_input_line():
    net, shape = built(LENET)

    assert net.infer_shape(shape) == ("batch", 10)
    # 28 -> conv 5 pad 2 -> 28 -> pool 2 -> 14 -> conv 5 -> 10 -> pool 2 -> 5
    assert net["fc1"].weight.shape == (120, 16 * 5 * 5)
    assert list(net.collect_params())[:6] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "fc1.weight",
        "fc1.bias",
    ]


def test_repeat_of_residual_builds_independent_copies():
    net, shape = built(RESNET)

    repeat = net[3]
    assert isinstance(repeat, nn.Repeat) and repeat.n == 2
    first, second = repeat
    assert isinstance(first[0], nn.Residual) and first[0].shortcut is None
    assert first[0][0].weight is not second[0][0].weight
    assert net.infer_shape(shape) == ("batch", 10)
    assert "3.1.0.3.weight" in net.collect_params()


def test_residual_shortcut_becomes_a_sequential_under_shortcut():
    net, shape = built(SHORTCUT)

    residual = net[0]
    assert isinstance(residual, nn.Residual)
    assert len(residual) == 5
    assert isinstance(residual.shortcut, nn.Sequential)
    assert residual.shortcut[0].strides == (2, 2)
    assert net.infer_shape(shape) == ("batch", 128, 28, 28)
    assert net.collect_params()["0.shortcut.0.weight"].shape == (128, 64, 1, 1)


def test_lookup_share_and_in_options_reach_the_layers():
    net, shape = built(EMBEDDING, {"hidden": 8})

    assert (net[0].input_dim, net[0].output_dim) == (1000, 64)
    assert net[2].units == 8
    assert net[4].weight is net["shared"].weight
    assert net[5].weight.shape == (1, 8)
    assert net.infer_shape(shape) == ("batch", 1)


def test_lookup_accepts_numpy_integers():
    net, _ = built("dense {n}", {"n": np.int64(7)})

    assert net[0].units == 7


def test_bias_false_drops_the_bias_and_an_initializer_sets_it():
    net, _ = built("dense 3 bias=false\ndense 3 bias=constant(0.5) init=normal(0.1)")

    assert net[0].bias is None
    assert isinstance(net[1].bias.own_init, init.Constant)
    assert isinstance(net[1].weight.own_init, init.Normal)


def test_every_option_of_a_convolution_is_passed_on():
    net, _ = built(
        "conv1d 8 3 stride=2 padding=1 dilation=2 groups=2 in=4 act=tanh bias=false"
    )

    conv = net[0]
    assert isinstance(conv, nn.Conv1D)
    assert (conv.kernel_size, conv.strides, conv.padding) == ((3,), (2,), (1,))
    assert (conv.dilation, conv.groups, conv.activation) == ((2,), 2, "tanh")
    assert conv.weight.shape == (8, 2, 3)


def test_small_layers_take_their_values():
    net, _ = built(
        "dropout 0.25\nleakyrelu alpha=0.2\nleakyrelu\nmaxpool2d (2, 3)\n"
        "dense 4 flatten=false in=6\nlayernorm in=4\nbatchnorm\ngelu\nsoftmax"
    )

    assert net[0].rate == 0.25
    assert (net[1].alpha, net[2].alpha) == (0.2, 0.01)
    assert net[3].pool_size == (2, 3)
    assert (net[4].flatten, net[4].weight.shape) == (False, (4, 6))
    assert [net[7].activation, net[8].activation] == ["gelu", "softmax"]


def test_blocks_keep_their_labels():
    net, _ = built("features = sequential:\n  relu\nsequential head:\n  relu")

    assert net["features"].label == "features"
    assert isinstance(net["head"], nn.Sequential)


def test_dtype_float64_casts_every_parameter():
    net, _ = build(parse("dense 3 in=2"), dtype="float64")

    assert net[0].weight.dtype == np.float64


def test_layer_names_cover_the_product_list():
    assert set(LAYER_NAMES) == {
        "dense",
        "conv1d",
        "conv2d",
        "maxpool1d",
        "maxpool2d",
        "avgpool1d",
        "avgpool2d",
        "globalavgpool",
        "flatten",
        "batchnorm",
        "layernorm",
        "dropout",
        "embedding",
        "relu",
        "sigmoid",
        "tanh",
        "gelu",
        "softmax",
        "leakyrelu",
        "identity",
    }


def test_unknown_layer_suggests_the_closest_and_lists_them_all():
    error = error_of("dense 10\ndens 10 act=relu")

    assert (error.line, error.column) == (2, 1)
    assert error.message == "unknown layer 'dens'."
    assert error.hint.startswith("Expected a layer name. Did you mean 'dense'?")
    assert "globalavgpool" in error.hint
    assert str(error).splitlines()[1:3] == ["    dens 10 act=relu", "    ^"]


def test_unknown_option_suggests_the_closest_and_lists_the_valid_ones():
    error = error_of("conv2d 16 kernal=3")

    assert (error.line, error.column) == (1, 11)
    assert error.message == "unknown option 'kernal' for 'conv2d'."
    assert "Did you mean 'kernel'?" in error.hint
    assert "stride=" in error.hint and "padding=" in error.hint


@pytest.mark.parametrize(
    ("text", "column", "part"),
    [
        ("dense relu", 7, "units as a positive integer, not the name 'relu'"),
        ("dense 0", 7, "units as a positive integer, not 0"),
        ("dense -3", 7, "units as a positive integer, not -3"),
        ("dense 10.0", 7, "units as a positive integer, not 10.0"),
        ("dense true", 7, "not true"),
        ("dropout 1.5", 9, "rate as a number in [0, 1), not 1.5"),
        ("dropout rate=-0.1", 14, "not -0.1"),
        ("conv2d 8 kernel=0", 17, "kernel as an integer >= 1"),
        ("conv2d 8 kernel=(3, 3, 3)", 17, "not the tuple '(3, 3, 3)'"),
        ("conv2d 8 kernel=(3, 0)", 21, "not 0"),
        ("conv2d 8 kernel=3 padding=-1", 27, "padding as an integer >= 0"),
        ("maxpool1d kernel=(2, 2)", 18, "kernel as an integer >= 1, not the tuple"),
        ("dense 4 flatten=1", 17, "flatten as true or false"),
        ("dense 4 act=3", 13, "act as an activation name"),
        ("dense 4 act=rleu", 13, "unknown activation 'rleu'"),
        ("dense 4 init=3", 14, "init as an initializer, not 3"),
        ("dense 4 init=xavir", 14, "unknown initializer 'xavir'"),
        ("dense 4 init=normal((1, 2))", 21, "its arguments as numbers"),
        ("dense 4 in=?", 12, "in as a positive integer, not '?'"),
        ("leakyrelu 1e999", 11, "alpha as a finite number"),
        ("repeat 0:\n  relu", 8, "a count as a positive integer, not 0"),
    ],
)
def test_value_of_the_wrong_kind_is_reported_at_the_value(text, column, part):
    error = error_of(text)

    assert (error.line, error.column) == (1, column)
    assert part in error.message
    assert error.source_line == text.splitlines()[0]


def test_activation_name_in_place_of_units_suggests_act():
    error = error_of("dense relu")

    assert "write act=relu" in error.hint


@pytest.mark.parametrize(
    "text, column", [("dense 4 bias=no", 14), ("dense 4 bias=3", 14)]
)
def test_a_bias_that_is_not_an_initializer_says_bias_false_turns_it_off(text, column):
    error = error_of(text)

    assert (error.line, error.column) == (1, column)
    assert error.hint.startswith("Write bias=false for no bias, or an initializer.")


def test_unknown_initializer_suggests_the_closest():
    error = error_of("dense 4 init=xavir")

    assert error.hint.startswith("Did you mean 'xavier'?")


def test_initializer_with_bad_arguments_says_so():
    error = error_of("dense 4 init=normal(1, 2, 3)")

    assert (error.line, error.column) == (1, 14)
    assert "'normal(1, 2, 3)' does not accept these arguments" in error.message


def test_missing_required_value_points_at_the_layer():
    error = error_of("relu\n  # comment\nembedding 10")

    assert (error.line, error.column) == (3, 1)
    assert error.message == "'embedding' needs output_dim."
    assert "embedding 1000 64" in error.hint


def test_too_many_values_point_at_the_first_extra_one():
    error = error_of("dense 1 2")

    assert (error.line, error.column) == (1, 9)
    assert error.message == "'dense' takes 1 value (units), but 2 are given."


def test_layer_without_settings_refuses_values_and_options():
    values = error_of("relu 3")
    options = error_of("flatten act=relu")

    assert values.message == "'relu' takes no values, but 1 is given."
    assert "write 'relu' alone" in values.hint
    assert (options.column, options.message) == (
        9,
        "unknown option 'act' for 'flatten'.",
    )


def test_value_given_both_ways_is_rejected():
    error = error_of("dense 4 units=4")

    assert (error.line, error.column) == (1, 9)
    assert "given units twice" in error.message


def test_undefined_lookup_is_reported_at_the_lookup():
    error = error_of("dense 8\ndense {hidden} act=relu", {"other": 3})

    assert (error.line, error.column) == (2, 7)
    assert "{hidden} names no variable" in error.message
    assert "hidden = 128" in error.hint


def test_lookup_without_a_namespace_is_undefined():
    error = error_of("dense {hidden}")

    assert "names no variable" in error.message


@pytest.mark.parametrize(
    ("value", "shown"),
    [(True, "True (a bool)"), ("12", "'12' (a str)"), (2.5, "2.5 (a float)")],
)
def test_lookup_of_something_not_an_integer_says_what_it_is(value, shown):
    error = error_of("dense {hidden}", {"hidden": value})

    assert (error.line, error.column) == (1, 7)
    assert f"but {{hidden}} is {shown}" in error.message


def test_lookup_out_of_range_says_its_value():
    error = error_of("dense {hidden}", {"hidden": 0})

    assert error.message == (
        "'dense' needs units as a positive integer, but {hidden} is 0."
    )


def test_lookup_may_give_a_rate_a_float():
    net, _ = built("dropout {p}", {"p": 0.3})

    assert net[0].rate == 0.3


def test_lookup_in_the_input_line_and_repeat_count_resolve():
    net, shape = built("input (batch, {n})\nrepeat {k}:\n  dense 2", {"n": 5, "k": 3})

    assert shape == ("batch", 5)
    assert net[0].n == 3


def test_share_with_an_unknown_label_lists_the_known_ones():
    error = error_of("fc1 = dense 8\nhead = dense 8\ndense 8 share=fc3")

    assert (error.line, error.column) == (3, 15)
    assert error.message == "no earlier layer is labelled 'fc3'."
    assert "Did you mean 'fc1'?" in error.hint
    assert "Labels so far: 'fc1', 'head'." in error.hint


def test_share_with_a_later_label_is_unknown():
    error = error_of("dense 8 share=later\nlater = dense 8")

    assert (error.line, error.column) == (1, 15)
    assert "No layer is labelled yet." in error.hint


def test_share_with_another_kind_of_layer_is_rejected():
    error = error_of("c = conv2d 4 kernel=1\ndense 4 share=c")

    assert (error.line, error.column) == (2, 15)
    assert "'c' (line 1) is a conv2d layer" in error.message


def test_share_with_a_block_is_rejected():
    error = error_of("s = sequential:\n  dense 1\ndense 1 share=s")

    assert "is a sequential block" in error.message


def test_share_with_different_sizes_points_at_share():
    error = error_of("a = dense 8 in=3\ndense 8 in=4 share=a")

    assert (error.line, error.column) == (2, 14)
    assert "cannot be declared" in error.message


def test_duplicate_label_is_reported_at_the_second():
    error = error_of("a = dense 1\nrepeat 2:\n  a = dense 2")

    assert (error.line, error.column) == (3, 3)
    assert error.message == "the label 'a' is already used on line 1."


def test_settings_the_layer_refuses_point_at_the_option_named():
    error = error_of("conv2d 3 kernel=3 groups=2")

    assert (error.line, error.column) == (1, 19)
    assert "groups" in error.hint


def _build_checked(text: str) -> None:
    """Parse and build; the only error allowed is a positioned syntax error."""
    try:
        build(parse(text), {"hidden": 8})
    except LazyNetSyntaxError as error:
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        assert 1 <= error.line <= len(lines)
        assert 1 <= error.column <= len(lines[error.line - 1]) + 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cells.mutated_cells())
def test_fuzz_mutated_cells_build_or_raise_positioned_errors(text):
    _build_checked(text)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*LAYER_NAMES, "1", "0", "-2", "0.5", "(2, 3)", "true", "{hidden}", "?"]
            + ["act=", "in=", "init=", "bias=", "share=", "kernel=", "a = ", "relu"]
            + ["xavier", "normal(1)", "\n", "\n  ", "residual:", "repeat 2:", " "]
        ),
        max_size=12,
    ).map(" ".join)
)
def test_fuzz_statements_of_dsl_words_build_or_raise_positioned_errors(text):
    _build_checked(text)
