"""The seed walkthrough through the Python API: states, shapes, values, errors."""

import numpy as np
import pytest

import lazymagic
from lazymagic import DeferredInitializationError, State, init, nn


def two_layer_net():
    net = nn.Sequential()
    net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    return net


def states(net):
    return {name: p.state for name, p in net.collect_params().items()}


def test_declared_net_has_unknown_input_dimensions():
    net = two_layer_net()
    params = net.collect_params()
    assert list(params) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert params["0.weight"].shape == (256, None)
    assert params["1.weight"].shape == (10, None)
    assert all(p.state == "declared" for p in params.values())
    assert "(256, ?)" in repr(params) and "(10, ?)" in repr(params)


def test_repr_shows_unknown_input_sizes():
    assert repr(two_layer_net()) == (
        "Sequential(\n  (0): Dense(? -> 256, relu)\n  (1): Dense(? -> 10)\n)"
    )


def test_initialize_leaves_weights_pending_and_allocates_nothing_for_them():
    net = two_layer_net()
    net.initialize(seed=0)
    params = net.collect_params()
    assert params["0.weight"].state == State.PENDING
    assert params["1.weight"].state == "pending"
    assert params["0.weight"]._data is None and params["1.weight"]._data is None
    # Biases have a known shape, so they go straight to materialized, as zeros.
    assert params["0.bias"].state == "materialized"
    np.testing.assert_array_equal(params["0.bias"].data(), np.zeros(256, np.float32))


def test_first_batch_materializes_every_parameter_with_the_right_shapes():
    net = two_layer_net()
    net.initialize(seed=0)
    x = np.random.default_rng(1).uniform(size=(2, 20)).astype(np.float32)
    out = net(x)
    assert out.shape == (2, 10)
    shapes = {n: p.shape for n, p in net.collect_params().items()}
    assert shapes == {
        "0.weight": (256, 20),
        "0.bias": (256,),
        "1.weight": (10, 256),
        "1.bias": (10,),
    }
    assert set(states(net).values()) == {State.MATERIALIZED}


def test_forward_matches_the_formula_written_in_numpy():
    net = two_layer_net()
    net.initialize(seed=3)
    x = np.random.default_rng(2).normal(size=(5, 20)).astype(np.float32)
    out = net(x)
    w0, b0 = net[0].weight.data(), net[0].bias.data()
    w1, b1 = net[1].weight.data(), net[1].bias.data()
    hidden = np.maximum(x.astype(np.float64) @ w0.T + b0, 0.0)
    expected = hidden @ w1.T + b1
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert out.dtype == np.float32


def test_default_weights_are_uniform_in_plus_minus_0_07_and_float32():
    net = nn.Sequential(nn.Dense(400, in_units=500))
    net.initialize(seed=0)
    w = net[0].weight.data()
    assert w.dtype == np.float32
    assert -0.07 <= w.min() < -0.069 and 0.069 < w.max() <= 0.07
    # Uniform(-a, a) has mean 0 and variance a^2 / 3.
    assert abs(w.mean()) < 0.001
    assert w.var() == pytest.approx(0.07**2 / 3, rel=0.01)


def test_data_before_initialize_says_to_call_initialize():
    net = two_layer_net()
    with pytest.raises(
        DeferredInitializationError, match=r"'0\.weight'.*\(256, \?\)"
    ) as e:
        net[0].weight.data()
    assert "never initialized" in str(e.value)
    assert "net.initialize()" in str(e.value)


def test_data_while_pending_says_to_pass_data_or_infer_or_declare():
    net = two_layer_net()
    net.initialize()
    with pytest.raises(DeferredInitializationError) as e:
        net[0].weight.data()
    message = str(e.value)
    assert "'0.weight'" in message and "(256, ?)" in message
    assert "net(X)" in message and "infer_shape" in message and "in_units" in message


def test_data_returns_the_live_array():
    net = nn.Sequential(nn.Dense(3, in_units=2))
    net.initialize(seed=0)
    net[0].weight.data()[0, 0] = 5.0
    assert net[0].weight.data()[0, 0] == 5.0


def test_a_known_shape_materializes_at_initialize():
    net = nn.Sequential(nn.Dense(256, in_units=20), nn.Dense(10))
    net.initialize(seed=0)
    assert net[0].weight.state == "materialized"
    assert net[0].weight.data().shape == (256, 20)
    assert net[1].weight.state == "pending"


def test_calling_a_materialized_net_with_another_size_is_an_error_naming_both():
    net = two_layer_net()
    net.initialize(seed=0)
    net(np.ones((2, 20), np.float32))
    before = net[0].weight.data().copy()
    with pytest.raises(lazymagic.ShapeError, match=r"layer '0'.*20.*30"):
        net(np.ones((2, 30), np.float32))
    np.testing.assert_array_equal(net[0].weight.data(), before)
    assert net[0].weight.shape == (256, 20)


def test_seeded_values_depend_only_on_seed_and_dotted_name():
    x = np.ones((1, 20), np.float32)
    a = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))
    a.initialize(seed=7)
    a(x)
    # Another net: same first layer name and shape, different second layer,
    # materialized through infer_shape instead of data.
    b = nn.Sequential(nn.Dense(256), nn.Dense(99), nn.Dense(3))
    b.initialize(seed=7)
    b.infer_shape((4, 20))
    np.testing.assert_array_equal(a[0].weight.data(), b[0].weight.data())
    # A different name or seed gives different values.
    c = nn.Sequential(nn.Dense(256, in_units=20))
    c.initialize(seed=8)
    assert not np.array_equal(a[0].weight.data(), c[0].weight.data())
    assert not np.array_equal(
        a[0].weight.data()[:10, :10], b[1].weight.data()[:10, :10]
    )


def test_seeded_values_do_not_depend_on_materialization_order():
    first = nn.Sequential(nn.Dense(5, in_units=4), nn.Dense(6))
    first.initialize(seed=1)  # 0.weight materializes now, 1.weight later
    first(np.ones((1, 4), np.float32))
    second = nn.Sequential(nn.Dense(5), nn.Dense(6, in_units=5))
    second.initialize(seed=1)  # 1.weight first, 0.weight with the data
    second(np.ones((1, 4), np.float32))
    for name in ("0.weight", "1.weight"):
        np.testing.assert_array_equal(
            first.collect_params()[name].data(), second.collect_params()[name].data()
        )


def test_initializer_given_to_initialize_applies_to_weights_not_biases():
    net = nn.Sequential(nn.Dense(4, in_units=3))
    net.initialize(init.Constant(0.5))
    np.testing.assert_array_equal(net[0].weight.data(), np.full((4, 3), 0.5))
    np.testing.assert_array_equal(net[0].bias.data(), np.zeros(4))


def test_gluon_flatten_false_applies_dense_to_the_last_axis():
    net = nn.Sequential(nn.Dense(3, flatten=False))
    net.initialize(seed=0)
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype(np.float32)
    out = net(x)
    assert out.shape == (2, 5, 3)
    assert net[0].weight.shape == (3, 4)
    w = net[0].weight.data()
    np.testing.assert_allclose(out, x @ w.T, rtol=1e-5)


def test_collect_params_html_names_each_state():
    net = two_layer_net()
    net.initialize()
    html = net.collect_params()._repr_html_()
    assert "lazy-pending" in html and ">&#9679; pending<" in html
    assert "(256, ?)" in html
