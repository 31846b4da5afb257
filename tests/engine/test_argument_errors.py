"""Mistakes in arguments are lazymagic errors that say what to pass instead."""

import numpy as np
import pytest

import lazymagic
from lazymagic import InvalidValueError, LazyMagicError, ShapeError, init, nn, options
from lazymagic.dsl.cell import build_cell


def test_numpy_integer_seeds_are_accepted_and_match_python_ints():
    a = nn.Sequential(nn.Dense(3, in_units=2))
    a.initialize(seed=np.int64(3))
    b = nn.Sequential(nn.Dense(3, in_units=2))
    b.initialize(seed=3)
    np.testing.assert_array_equal(a[0].weight.data(), b[0].weight.data())


@pytest.mark.parametrize("seed", [1.5, "3", -1, True])
def test_bad_seeds_are_refused(seed):
    net = nn.Sequential(nn.Dense(3, in_units=2))
    with pytest.raises(InvalidValueError, match="seed"):
        net.initialize(seed=seed)
    assert net[0].weight.state == "declared"


@pytest.mark.parametrize(
    "x", [np.array([["a"]]), np.array([[1 + 2j]]), np.array([[None]], dtype=object)]
)
def test_non_numeric_input_is_a_lazymagic_error(x):
    net = nn.Sequential(nn.Dense(3))
    net.initialize()
    with pytest.raises(InvalidValueError, match="numbers"):
        net(x)
    assert net[0].weight.state == "pending"


@pytest.mark.parametrize(
    "make, keyword",
    [
        (lambda v: nn.Dense(3, use_bias=v), "use_bias"),
        (lambda v: nn.Dense(3, flatten=v), "flatten"),
        (lambda v: nn.Conv2D(3, 2, use_bias=v), "use_bias"),
        (lambda v: nn.Conv1D(3, 2, use_bias=v), "use_bias"),
        (lambda v: nn.BatchNorm(center=v), "center"),
        (lambda v: nn.LayerNorm(scale=v), "scale"),
    ],
)
@pytest.mark.parametrize("value", ["no", "False", 0, None])
def test_switches_take_true_or_false_only(make, keyword, value):
    # bool("no") is True: a string must not quietly turn a bias on.
    with pytest.raises(InvalidValueError, match=f"{keyword} as True or False"):
        make(value)
    assert make(np.bool_(False)) is not None


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"kernel_size": 0}, "kernel_size of at least 1, got \\(0, 0\\)"),
        ({"kernel_size": 3, "strides": (1, 0)}, "strides of at least 1"),
        ({"kernel_size": 3, "dilation": 0}, "dilation of at least 1"),
    ],
)
def test_convolution_names_the_argument_that_is_too_small(kwargs, named):
    with pytest.raises(InvalidValueError, match=named):
        nn.Conv2D(4, **kwargs)


@pytest.mark.parametrize("dtype", ["float16", np.longdouble, "int32", "nonsense", None])
def test_parameters_are_float32_or_float64_only(dtype):
    with pytest.raises(InvalidValueError, match="float32 or float64"):
        nn.Sequential(nn.Dense(3)).cast(dtype)
    with pytest.raises(InvalidValueError, match="float32 or float64"):
        lazymagic.Parameter("w", (2, 3), dtype=dtype)
    with pytest.raises(InvalidValueError, match="float32 or float64"):
        build_cell("dense 3", dtype=dtype)


def test_a_parameter_refuses_a_masked_array_and_keeps_its_values():
    net = nn.Sequential(nn.Dense(2, in_units=2))
    net.initialize(seed=0)
    before = net[0].weight.data().copy()
    masked = np.ma.masked_array(np.ones((2, 2)), mask=[[0, 1], [0, 0]])
    with pytest.raises(InvalidValueError, match=r"(?s)masked array.*filled\(value\)"):
        net[0].weight.set_data(masked)
    np.testing.assert_array_equal(net[0].weight.data(), before)


def test_boolean_indices_into_an_embedding_are_refused_not_used_as_a_mask():
    net = nn.Sequential(nn.Embedding(3, 2))
    net.initialize(seed=0)
    with pytest.raises(ShapeError, match="booleans"):
        net(np.array([True, False, True]))


@pytest.mark.parametrize(
    "spec",
    [
        "constant(nan)",
        "constant(inf)",
        "normal(1e400)",
        "truncnormal(1e400)",
        "orthogonal(nan)",
        "uniform(nan)",
        "normal(-1)",
        "xavier_uniform(0)",
    ],
)
def test_non_finite_or_non_positive_initializer_arguments_are_refused(spec):
    with pytest.raises(InvalidValueError, match="finite number"):
        init.parse(spec)


def test_dsl_initializer_with_a_non_number_is_a_syntax_error():
    with pytest.raises(lazymagic.LazyNetSyntaxError) as e:
        build_cell("dense 3 init=constant(nan)\n")
    assert e.value.line == 1


def test_sizes_are_exact_python_ints_beyond_int64():
    units = 10**12
    net = nn.Sequential(nn.Dense(units, in_units=10**10))
    weight = net[0].weight
    assert weight.size == 10**22  # would wrap around in int64
    assert weight.nbytes == 4 * 10**22
    assert "10,000,000,000,000,000,000,000" in repr(net.collect_params())


def test_repeat_count_has_a_ceiling():
    with pytest.raises(InvalidValueError, match="at most 10,000"):
        nn.Repeat(10_001, nn.Dense(3))


def test_every_argument_error_is_also_a_builtin_type_or_value_error():
    assert issubclass(InvalidValueError, LazyMagicError)
    assert issubclass(InvalidValueError, TypeError)
    assert issubclass(InvalidValueError, ValueError)
    with pytest.raises(ValueError):
        nn.Dense(0)


@pytest.mark.parametrize(
    "line", ["max_param_bytes = -5", "max_param_bytes = 'abc'", "short_errors = 3"]
)
def test_config_refuses_bad_values_and_stays_equal_to_options(shell, line):
    shell.run_line_magic("config", "LazyMagic.max_param_bytes = 5000")
    shell.run_line_magic("config", f"LazyMagic.{line}")
    magics = [c for c in shell.configurables if type(c).__name__ == "LazyMagic"][0]
    assert options.max_param_bytes == magics.max_param_bytes == 5000
    assert options.short_errors is magics.short_errors is True
