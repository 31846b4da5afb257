"""Initializers: fan rules, textbook scales, drawn distributions, dtype, seeding."""

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazymagic import ShapeError, State, init, nn
from lazymagic.engine.parameter import CHUNK_SIZE

SQRT2 = math.sqrt(2.0)


def ks_statistic(values, cdf):
    """Kolmogorov–Smirnov distance between a sample and a continuous cdf."""
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    n = x.size
    f = cdf(x)
    above = np.arange(1, n + 1) / n - f
    below = f - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


def ks_critical(n):
    """The 5% critical value of the one-sample KS test for large n."""
    return 1.36 / math.sqrt(n)


def drawn(initializer, shape=(400, 500), seed=0):
    """Materialize one dense weight of ``shape`` and return it with its parameter."""
    units, in_units = shape
    layer = nn.Dense(units, in_units=in_units, weight_initializer=initializer)
    net = nn.Sequential(layer)
    net.initialize(seed=seed)
    return layer.weight.data(), layer.weight


# -- fans -------------------------------------------------------------------------


@pytest.mark.parametrize("units, in_units", [(256, 20), (1, 1), (10, 784)])
def test_dense_fan_in_is_in_units_and_fan_out_is_units(units, in_units):
    assert init.fans((units, in_units)) == (in_units, units)


@pytest.mark.parametrize(
    "out, c_in, groups, kernel",
    [(16, 6, 1, (5, 5)), (8, 4, 2, (3, 5)), (6, 3, 3, (7,)), (4, 2, 1, (1, 1))],
)
def test_conv_fans_count_the_receptive_field(out, c_in, groups, kernel):
    cls = nn.Conv2D if len(kernel) == 2 else nn.Conv1D
    net = nn.Sequential(cls(out, kernel, groups=groups))
    net.infer_shape((1, c_in, *([9] * len(kernel))))
    shape = net[0].weight.shape
    assert shape == (out, c_in // groups, *kernel)

    receptive = math.prod(kernel)
    expected = (c_in // groups * receptive, out * receptive)
    assert init.fans(shape) == expected
    spec = init.XavierUniform().describe(shape)
    assert (spec.fan_in, spec.fan_out) == expected


# -- describe(): the textbook formulas --------------------------------------------


@pytest.mark.parametrize("shape", [(256, 20), (16, 6, 5, 5), (3, 1)])
def test_xavier_uniform_bound_is_sqrt_six_over_fan_sum(shape):
    fi, fo = init.fans(shape)
    bound = math.sqrt(6.0 / (fi + fo))
    for xavier in (init.XavierUniform(), init.Xavier()):  # Gluon's Xavier() too
        spec = xavier.describe(shape)
        assert spec.kind == "uniform"
        assert spec.high == pytest.approx(bound, rel=1e-12)
        assert spec.low == pytest.approx(-bound, rel=1e-12)


@pytest.mark.parametrize("shape", [(256, 20), (16, 6, 5, 5)])
def test_xavier_normal_std_is_sqrt_two_over_fan_sum(shape):
    fi, fo = init.fans(shape)
    spec = init.XavierNormal().describe(shape)
    assert spec.kind == "normal"
    assert spec.mean == 0
    assert spec.std == pytest.approx(math.sqrt(2.0 / (fi + fo)), rel=1e-12)
    gluon = init.Xavier(rnd_type="gaussian", factor_type="avg", magnitude=1)
    assert gluon.describe(shape).std == pytest.approx(math.sqrt(2.0 / (fi + fo)))


def test_xavier_gluon_factor_types_use_the_chosen_fan():
    shape = (30, 12)
    fi, fo = 12, 30
    assert init.Xavier(factor_type="in").describe(shape).high == pytest.approx(
        math.sqrt(3.0 / fi)
    )
    assert init.Xavier(factor_type="out", magnitude=2).describe(
        shape
    ).high == pytest.approx(math.sqrt(2.0 / fo))


@pytest.mark.parametrize(
    "nonlinearity, gain", [("relu", SQRT2), ("tanh", 5 / 3), ("sigmoid", 1.0)]
)
@pytest.mark.parametrize("shape", [(256, 20), (16, 6, 5, 5)])
def test_kaiming_normal_std_is_gain_over_sqrt_fan_in(nonlinearity, gain, shape):
    fi, fo = init.fans(shape)
    spec = init.KaimingNormal(nonlinearity).describe(shape)
    assert spec.kind == "normal"
    assert spec.std == pytest.approx(gain / math.sqrt(fi), rel=1e-12)
    out_mode = init.KaimingNormal(nonlinearity, mode="fan_out").describe(shape)
    assert out_mode.std == pytest.approx(gain / math.sqrt(fo), rel=1e-12)


@pytest.mark.parametrize("shape", [(256, 20), (16, 6, 5, 5)])
def test_kaiming_uniform_bound_is_gain_times_sqrt_three_over_fan_in(shape):
    fi, _ = init.fans(shape)
    spec = init.KaimingUniform().describe(shape)
    assert spec.kind == "uniform"
    assert spec.high == pytest.approx(SQRT2 * math.sqrt(3.0 / fi), rel=1e-12)
    assert spec.low == pytest.approx(-SQRT2 * math.sqrt(3.0 / fi), rel=1e-12)


def test_leaky_relu_gain_follows_the_negative_slope():
    slope = 0.2
    spec = init.KaimingNormal("leakyrelu", negative_slope=slope).describe((10, 50))
    assert spec.std == pytest.approx(math.sqrt(2 / (1 + slope**2)) / math.sqrt(50))


def test_uniform_normal_and_truncated_normal_describe_their_parameters():
    u = init.Uniform(0.3).describe((4, 5))
    assert (u.kind, u.low, u.high) == ("uniform", -0.3, 0.3)
    n = init.Normal(0.02).describe((4, 5))
    assert (n.kind, n.mean, n.std) == ("normal", 0.0, 0.02)
    t = init.TruncatedNormal(0.5).describe((4, 5))
    assert t.kind == "truncated_normal"
    assert (t.low, t.high, t.std) == (-1.0, 1.0, 0.5)  # within ±2σ


def test_describe_formula_shows_the_numbers():
    text = init.XavierUniform().describe((256, 20)).formula
    assert "20" in text and "256" in text
    assert f"{math.sqrt(6 / 276):.4g}" in text


# -- drawn values against the theoretical distribution ----------------------------


CASES = [
    init.Uniform(0.07),
    init.Uniform(2.5),
    init.Normal(0.01),
    init.Normal(1.0),
    init.TruncatedNormal(0.02),
    init.XavierUniform(),
    init.XavierNormal(),
    init.Xavier(rnd_type="gaussian"),
    init.KaimingUniform(),
    init.KaimingNormal(),
    init.KaimingNormal("tanh", mode="fan_out"),
]


@pytest.mark.parametrize("initializer", CASES, ids=repr)
def test_drawn_values_pass_a_kolmogorov_smirnov_test(initializer):
    values, param = drawn(initializer)
    assert values.size == 200_000
    spec = initializer.describe(param.shape)
    d = ks_statistic(values, spec.cdf)
    assert d < ks_critical(values.size), d


@pytest.mark.parametrize(
    "initializer, wrong",
    [
        (init.Uniform(0.07), init.Uniform(0.072)),
        (init.Normal(1.0), init.Normal(1.03)),
        (init.KaimingNormal(), init.KaimingNormal("tanh")),
    ],
    ids=repr,
)
def test_kolmogorov_smirnov_check_rejects_a_slightly_wrong_scale(initializer, wrong):
    values, param = drawn(initializer)
    d = ks_statistic(values, wrong.describe(param.shape).cdf)
    assert d > ks_critical(values.size), d


def test_truncated_normal_stays_within_two_sigma():
    sigma = 0.05
    values, _ = drawn(init.TruncatedNormal(sigma))
    edge = 2 * sigma
    assert np.abs(values).max() <= np.float32(edge)
    # An untruncated normal puts 4.55% of its draws beyond 2σ; none are here, but
    # plenty come close, so the tails are not cut early.
    assert np.mean(np.abs(values) > 0.95 * edge) > 0.001


def test_truncated_normal_moments_match_the_truncated_formula():
    sigma = 1.0
    values, _ = drawn(init.TruncatedNormal(sigma))
    # Variance of N(0, 1) truncated to [-2, 2]: 1 - 2·2·φ(2) / (Φ(2) - Φ(-2)).
    phi = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    expected_var = 1 - 4 * phi / mass
    assert values.astype(np.float64).var() == pytest.approx(expected_var, rel=0.01)
    assert abs(values.astype(np.float64).mean()) < 0.01


@pytest.mark.parametrize("shape", [(4, 10), (10, 4), (7, 7), (6, 2, 3, 3)])
@pytest.mark.parametrize("g", [1.0, 2.0])
def test_orthogonal_has_orthonormal_rows_or_columns(shape, g):
    param_net = nn.Sequential(
        nn.Conv2D(shape[0], 3, weight_initializer=init.Orthogonal(g))
        if len(shape) == 4
        else nn.Dense(shape[0], weight_initializer=init.Orthogonal(g))
    )
    param_net.initialize(seed=3)
    param_net.infer_shape((1, *shape[1:2], 5, 5) if len(shape) == 4 else (1, shape[1]))
    w = param_net[0].weight.data().astype(np.float64)
    assert w.shape == shape

    rows, cols = shape[0], math.prod(shape[1:])
    m = w.reshape(rows, cols)
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, g * g * np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_refuses_a_bias():
    with pytest.raises(ShapeError, match="'b'"):
        init.Orthogonal().describe((5,), "b")


# -- dtype and memory -------------------------------------------------------------


RANDOM = [
    init.Uniform(),
    init.Normal(),
    init.TruncatedNormal(),
    init.XavierUniform(),
    init.XavierNormal(),
    init.KaimingUniform(),
    init.KaimingNormal(),
    init.Orthogonal(),
]


@pytest.mark.parametrize("initializer", RANDOM, ids=repr)
def test_values_are_drawn_in_float32(initializer):
    values, param = drawn(initializer, shape=(20, 30))
    assert values.dtype == np.float32
    assert param.dtype == np.float32


@pytest.mark.parametrize("initializer", RANDOM[:4], ids=repr)
def test_values_follow_a_float64_net(initializer):
    net = nn.Sequential(nn.Dense(20, in_units=30, weight_initializer=initializer))
    net.cast(np.float64)
    net.initialize(seed=0)
    assert net[0].weight.data().dtype == np.float64


@pytest.mark.parametrize("initializer", RANDOM[:-1], ids=repr)  # orthogonal needs QR
def test_drawing_a_large_parameter_makes_no_float64_copy(initializer):
    units, in_units = 2048, 2048  # 4M values, 16 MiB in float32, beyond one chunk
    net = nn.Sequential(
        nn.Dense(
            units, in_units=in_units, use_bias=False, weight_initializer=initializer
        )
    )
    tracemalloc.start()
    try:
        net.initialize(seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    nbytes = units * in_units * 4
    assert net[0].weight.data().nbytes == nbytes
    # A float64 temporary of the whole array alone would add 2 x nbytes.
    assert peak < 1.5 * nbytes, peak / nbytes


# -- seeded reproducibility -------------------------------------------------------


def test_same_seed_and_name_give_same_values_regardless_of_when_they_materialize():
    eager = nn.Sequential(nn.Dense(5, in_units=4), nn.Dense(3))
    lazy = nn.Sequential(nn.Dense(5), nn.Dense(3))
    eager.initialize(init.Normal(1.0), seed=42)
    assert eager[0].weight.state == State.MATERIALIZED  # at initialize()
    lazy.initialize(init.Normal(1.0), seed=42)
    assert lazy[0].weight.state == State.PENDING
    x = np.ones((2, 4), np.float32)
    lazy(x)  # at the first batch
    eager(x)
    for name in ("0.weight", "1.weight"):
        np.testing.assert_array_equal(
            eager.collect_params()[name].data(), lazy.collect_params()[name].data()
        )


def test_values_do_not_depend_on_the_other_layers():
    small = nn.Sequential(nn.Dense(5, in_units=4))
    big = nn.Sequential(
        nn.Dense(5, in_units=4), nn.Conv2D(8, 3, in_channels=2), nn.Dense(7, in_units=9)
    )
    small.initialize(init.XavierNormal(), seed=7)
    big.initialize(init.XavierNormal(), seed=7)
    np.testing.assert_array_equal(small[0].weight.data(), big[0].weight.data())


def test_a_different_name_gives_different_values():
    a = nn.Sequential(nn.Dense(5, in_units=4))
    b = nn.Sequential(nn.Dense(5, in_units=4, label="fc1"))
    c = nn.Sequential(nn.Dense(5, in_units=4))
    for net in (a, b, c):
        net.initialize(init.Normal(1.0), seed=7)
    assert not np.array_equal(a[0].weight.data(), b[0].weight.data())
    np.testing.assert_array_equal(a[0].weight.data(), c[0].weight.data())


def test_a_different_seed_gives_different_values():
    a = nn.Sequential(nn.Dense(5, in_units=4))
    b = nn.Sequential(nn.Dense(5, in_units=4))
    a.initialize(init.Normal(1.0), seed=1)
    b.initialize(init.Normal(1.0), seed=2)
    assert not np.array_equal(a[0].weight.data(), b[0].weight.data())


def test_unseeded_initialize_differs_between_nets():
    a = nn.Sequential(nn.Dense(50, in_units=4))
    b = nn.Sequential(nn.Dense(50, in_units=4))
    a.initialize(init.Normal(1.0))
    b.initialize(init.Normal(1.0))
    assert not np.array_equal(a[0].weight.data(), b[0].weight.data())


def test_chunks_of_a_large_parameter_are_not_repeated():
    values, _ = drawn(init.Normal(1.0), shape=(2, CHUNK_SIZE))
    first, second = values.reshape(-1)[:CHUNK_SIZE], values.reshape(-1)[CHUNK_SIZE:]
    assert not np.array_equal(first[:1000], second[:1000])


@settings(max_examples=25, deadline=None, database=None)
@given(
    seed=st.integers(0, 2**32),
    label=st.text("abcxyz_", min_size=1, max_size=5),
    units=st.integers(1, 6),
    before=st.integers(0, 3),
)
def test_seeded_values_depend_only_on_seed_and_dotted_name(seed, label, units, before):
    # The same labelled layer, with 'before' unrelated layers in front of it.
    alone = nn.Sequential(nn.Dense(units, in_units=3, label=label))
    crowded = nn.Sequential(
        *[nn.Dense(2, in_units=3) for _ in range(before)],
        nn.Dense(units, in_units=3, label=label),
    )
    alone.initialize(init.Normal(1.0), seed=seed)
    crowded.initialize(init.Normal(1.0), seed=seed)
    np.testing.assert_array_equal(
        alone[label].weight.data(), crowded[label].weight.data()
    )


# -- a fan of zero ----------------------------------------------------------------


@pytest.mark.parametrize(
    "initializer",
    [
        init.Xavier(),
        init.XavierUniform(),
        init.XavierNormal(),
        init.KaimingUniform(),
        init.KaimingNormal(),
        init.KaimingNormal(mode="fan_out"),
        init.Orthogonal(),
    ],
    ids=repr,
)
@pytest.mark.parametrize("shape", [(4, 0), (0, 3), (8, 0, 3, 3)])
def test_a_fan_of_zero_is_a_shape_error(initializer, shape):
    with pytest.raises(ShapeError, match=r"(?s)parameter '0\.weight'.*fan"):
        initializer.describe(shape, "0.weight")


# -- Gluon's defaults -------------------------------------------------------------


def test_defaults_are_uniform_weights_zero_biases_and_unit_batchnorm():
    net = nn.Sequential(
        nn.Conv2D(8, 3), nn.BatchNorm(), nn.Flatten(), nn.Dense(16), nn.LayerNorm()
    )
    net.initialize(seed=0)
    net(np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32))
    params = net.collect_params()

    for name in ("0.weight", "3.weight"):
        w = params[name].data()
        assert params[name].init == init.Uniform(0.07)
        assert np.abs(w).max() <= np.float32(0.07)
        assert np.abs(w).max() > 0.06  # spread over the whole interval
    for name in ("0.bias", "3.bias", "1.beta", "1.running_mean", "4.beta"):
        assert np.all(params[name].data() == 0), name
    for name in ("1.gamma", "1.running_var", "4.gamma"):
        assert np.all(params[name].data() == 1), name


def test_initialize_argument_does_not_override_a_layers_own_initializers():
    net = nn.Sequential(
        nn.Dense(3, in_units=2, weight_initializer=init.Constant(0.5)),
        nn.Dense(3, in_units=3, bias_initializer="constant(2)"),
        nn.BatchNorm(in_channels=3),
    )
    net.initialize(init.Normal(1.0), seed=0)
    assert np.all(net[0].weight.data() == 0.5)
    assert np.all(net[1].bias.data() == 2.0)
    assert net[1].weight.init == init.Normal(1.0)
    assert np.all(net[2].gamma.data() == 1) and np.all(net[2].beta.data() == 0)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("xavier", init.Xavier()),
        ("normal(0.01)", init.Normal(0.01)),
        ("uniform(0.07)", init.Uniform(0.07)),
        ("constant(1)", init.Constant(1.0)),
        ("kaiming", init.KaimingNormal()),
        ("zeros", init.Zero()),
    ],
)
def test_parse_reads_the_dsl_spelling(text, expected):
    assert init.parse(text) == expected


def test_parse_suggests_the_closest_name():
    with pytest.raises(ValueError, match="xavier"):
        init.parse("xavir")
