"""Shape inference: ``infer_shape`` against hand arithmetic and real forward passes."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lazymagic import DeferredInitializationError, ShapeError, State, nn


def out_size(n, k, s=1, p=0, d=1):
    """``floor((n + 2p - d(k-1) - 1) / s) + 1``."""
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


def lenet():
    return nn.Sequential(
        nn.Conv2D(6, 5, padding=2, activation="sigmoid"),
        nn.AvgPool2D(2, strides=2),
        nn.Conv2D(16, 5, activation="sigmoid"),
        nn.AvgPool2D(2, strides=2),
        nn.Flatten(),
        nn.Dense(120, activation="sigmoid", label="fc1"),
        nn.Dense(84, activation="sigmoid"),
        nn.Dense(10),
    )


def test_infer_shape_keeps_symbolic_batch_and_fills_every_shape():
    net = lenet()
    assert net.infer_shape(("batch", 3, 32, 32)) == ("batch", 10)

    h = out_size(out_size(out_size(out_size(32, 5, p=2), 2, 2), 5), 2, 2)
    assert h == 6
    shapes = {name: p.shape for name, p in net.collect_params().items()}
    assert shapes == {
        "0.weight": (6, 3, 5, 5),
        "0.bias": (6,),
        "2.weight": (16, 6, 5, 5),
        "2.bias": (16,),
        "fc1.weight": (120, 16 * h * h),
        "fc1.bias": (120,),
        "6.weight": (84, 120),
        "6.bias": (84,),
        "7.weight": (10, 84),
        "7.bias": (10,),
    }


def test_infer_shape_leaves_declared_parameters_declared():
    net = lenet()
    net.infer_shape(("batch", 1, 28, 28))
    for name, p in net.collect_params().items():
        assert p.state == State.DECLARED, name
        assert p.is_complete, name
        with pytest.raises(DeferredInitializationError, match=name):
            p.data()


def test_infer_shape_materializes_pending_parameters():
    net = lenet()
    net.initialize(seed=0)
    assert net[0].weight.state == State.PENDING
    net.infer_shape((None, 1, 28, 28))
    for name, p in net.collect_params().items():
        assert p.state == State.MATERIALIZED, name
        assert p.data().shape == p.shape, name
    assert net["fc1"].weight.shape == (120, 16 * 5 * 5)


def test_infer_shape_then_forward_agree():
    net = lenet()
    net.initialize(seed=0)
    net.infer_shape(("batch", 1, 28, 28))
    assert net(np.zeros((3, 1, 28, 28), np.float32)).shape == (3, 10)


def test_infer_shape_accepts_a_symbolic_spatial_size():
    net = nn.Sequential(nn.Conv2D(4, 3), nn.Flatten(), nn.Dense(3))
    out = net.infer_shape(("b", 2, "H", "W"))
    assert out == ("b", 3)
    assert net[0].weight.shape == (4, 2, 3, 3)
    assert net[2].weight.shape == (3, None)  # flattened size depends on H and W


def test_infer_shape_returns_symbolic_spatial_formulas_that_evaluate_right():
    net = nn.Sequential(nn.Conv2D(4, 5, strides=2, padding=1), nn.MaxPool2D(2))
    out = net.infer_shape(("n", 3, "H", 20))
    assert out[:2] == ("n", 4)
    assert out[3] == out_size(out_size(20, 5, 2, 1), 2, 2)
    for h in range(7, 40):
        formula = out[2].replace("·", "*")
        assert eval(formula, {"H": h}) == out_size(out_size(h, 5, 2, 1), 2, 2), h


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("s", [1, 2, 3])
@pytest.mark.parametrize("p", [0, 1])
@pytest.mark.parametrize("d", [1, 2])
def test_conv_output_size_follows_the_formula(n, k, s, p, d):
    expected = out_size(n, k, s, p, d)
    net = nn.Sequential(nn.Conv1D(2, k, strides=s, padding=p, dilation=d))
    if expected <= 0:
        with pytest.raises(ShapeError, match=rf"= {expected}\b"):
            net.infer_shape((1, 1, n))
        assert net[0].weight.shape == (2, None, k)
    else:
        assert net.infer_shape((1, 1, n)) == (1, 2, expected)


@pytest.mark.parametrize("hw", [(7, 9), (3, 3), (12, 5)])
@pytest.mark.parametrize(
    "k, s, p, d", [((3, 3), (1, 1), (0, 0), (1, 1)), ((3, 2), (2, 1), (1, 0), (1, 2))]
)
def test_conv2d_output_size_follows_the_formula_per_axis(hw, k, s, p, d):
    expected = tuple(out_size(hw[i], k[i], s[i], p[i], d[i]) for i in range(2))
    net = nn.Sequential(nn.Conv2D(3, k, strides=s, padding=p, dilation=d))
    assert net.infer_shape(("b", 2, *hw)) == ("b", 3, *expected)


@pytest.mark.parametrize("cls", [nn.MaxPool2D, nn.AvgPool2D])
@pytest.mark.parametrize("n, k, s, p", [(8, 2, None, 0), (7, 3, 2, 1), (5, 3, 1, 1)])
def test_pool_output_size_follows_the_formula(cls, n, k, s, p):
    expected = out_size(n, k, k if s is None else s, p)
    net = nn.Sequential(cls(k, strides=s, padding=p))
    assert net.infer_shape((2, 3, n, n)) == (2, 3, expected, expected)


def test_window_too_large_shows_the_arithmetic_and_changes_nothing():
    net = nn.Sequential(nn.Conv2D(4, 3), nn.Conv2D(8, 5))
    net.initialize()
    before = {n: (p.shape, p.state) for n, p in net.collect_params().items()}

    # First conv: 6 -> out_size(6, 3) = 4; the second: out_size(4, 5) = 0.
    assert out_size(out_size(6, 3), 5) == 0
    pattern = r"(?s)layer '1' \(conv2d 8 kernel=5\).*height 0.*floor\(\(4 .*5.*= 0"
    with pytest.raises(ShapeError, match=pattern):
        net.infer_shape(("batch", 2, 6, 6))
    with pytest.raises(ShapeError, match=pattern):
        net(np.zeros((1, 2, 6, 6), np.float32))

    after = {n: (p.shape, p.state) for n, p in net.collect_params().items()}
    assert after == before
    assert net[0].weight.shape == (4, None, 3, 3)
    assert net[0].weight.state == State.PENDING


def test_pool_too_large_names_the_pool():
    with pytest.raises(ShapeError, match=r"layer '0' \(maxpool2d kernel=4\).*= 0"):
        nn.Sequential(nn.MaxPool2D(4, strides=1)).infer_shape((1, 1, 3, 3))


@pytest.mark.parametrize(
    "layer, shape, rank",
    [
        (nn.Conv2D(4, 3), (2, 3, 8), "4-D"),
        (nn.Conv2D(4, 3), (2, 3, 8, 8, 8), "4-D"),
        (nn.Conv1D(4, 3), (2, 3, 8, 8), "3-D"),
        (nn.MaxPool2D(2), (2, 8, 8), "4-D"),
        (nn.AvgPool1D(2), (2, 8), "3-D"),
        (nn.Dense(4), (7,), "2-D"),
        (nn.LayerNorm(), (7,), "2-D"),
    ],
)
def test_wrong_rank_names_the_layer_and_the_expected_rank(layer, shape, rank):
    net = nn.Sequential(nn.Activation("relu"), layer)
    with pytest.raises(ShapeError, match=rf"layer '1' \({layer.describe()}\).*{rank}"):
        net.infer_shape(shape)
    with pytest.raises(ShapeError, match=rf"layer '1'.*{rank}"):
        net(np.zeros(shape, np.float32))


def test_materialized_net_refuses_a_new_input_size():
    net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize(seed=0)
    net(np.zeros((2, 20), np.float32))
    weight = net[0].weight.data().copy()
    with pytest.raises(ShapeError, match=r"(?s)layer '0' \(dense 256\).*20.*30"):
        net.infer_shape(("batch", 30))
    with pytest.raises(ShapeError, match=r"(?s)layer '0' \(dense 256\).*20.*30"):
        net(np.zeros((2, 30), np.float32))
    np.testing.assert_array_equal(net[0].weight.data(), weight)


def test_declared_input_size_contradicted_by_data_is_an_error():
    net = nn.Sequential(nn.Dense(4, in_units=20))
    with pytest.raises(ShapeError, match=r"layer '0'.*declared for 20.*30"):
        net.infer_shape((1, 30))
    assert net[0].weight.shape == (4, 20)


def test_size_formula_before_and_after_shapes_are_known():
    net = nn.Sequential(
        nn.Dense(256), nn.Conv2D(16, (3, 5)), nn.BatchNorm(), nn.Embedding(100, 8)
    )
    dense, conv, bn, emb = net[0], net[1], net[2], net[3]
    assert dense.weight.size_formula() == "256·in_units"
    assert dense.bias.size_formula() == str(256)
    assert conv.weight.size_formula() == f"{16 * 3 * 5}·in_channels"
    assert bn.gamma.size_formula() == "in_channels"
    assert emb.weight.size_formula() == str(100 * 8)
    assert dense.weight.size is None

    table = str(net.collect_params())
    assert "256·in_units" in table and f"{16 * 3 * 5}·in_channels" in table

    small = nn.Sequential(nn.Dense(256))
    small.infer_shape(("batch", 20))
    assert small[0].weight.size_formula() == str(256 * 20)
    assert small[0].weight.size == 256 * 20


def test_batch_of_zero_rows_infers_shapes_through_a_cnn():
    net = lenet()
    net.initialize(seed=0)
    out = net(np.zeros((0, 1, 28, 28), np.float32))
    assert out.shape == (0, 10)
    assert net["fc1"].weight.shape == (120, 400)


# -- the property: shape inference agrees with a real forward pass -----------------


@st.composite
def stacks(draw):
    """A random valid stack: a spec list, and an input shape it accepts."""
    channels = draw(st.integers(1, 3))
    size = draw(st.integers(4, 10))
    batch = draw(st.integers(1, 3))
    spec = []
    shape = [channels, size]  # (channels, spatial) while convolutional
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["conv", "pool", "bn", "act"]))
        if kind == "conv":
            k = draw(st.integers(1, 3))
            s = draw(st.integers(1, 2))
            p = draw(st.integers(0, 1))
            d = draw(st.integers(1, 2))
            g = draw(st.sampled_from([1, shape[0]]))
            c = g * draw(st.integers(1, 3))
            if out_size(shape[1], k, s, p, d) < 1:
                continue
            spec.append(("conv", c, k, s, p, d, g))
            shape = [c, out_size(shape[1], k, s, p, d)]
        elif kind == "pool":
            k = draw(st.integers(1, 3))
            p = draw(st.integers(0, k // 2))
            s = draw(st.sampled_from([None, 1, 2]))
            if out_size(shape[1], k, k if s is None else s, p) < 1:
                continue
            spec.append((draw(st.sampled_from(["max", "avg"])), k, s, p))
            shape = [shape[0], out_size(shape[1], k, k if s is None else s, p)]
        elif kind == "bn":
            spec.append(("bn",))
        else:
            spec.append(("act", draw(st.sampled_from(["relu", "tanh", "gelu"]))))
    spec.append(draw(st.sampled_from([("flatten",), ("gap",)])))
    if spec[-1] == ("gap",):
        spec.append(("flatten",))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["dense", "dense", "bn", "ln", "act", "dropout"]))
        if kind == "dense":
            spec.append(("dense", draw(st.integers(1, 6))))
        elif kind == "bn":
            spec.append(("bn",))
        elif kind == "ln":
            spec.append(("ln",))
        elif kind == "dropout":
            spec.append(("dropout",))
        else:
            spec.append(("act", draw(st.sampled_from(["sigmoid", "softmax"]))))
    return spec, (batch, channels, size, size)


def build(spec):
    net = nn.Sequential()
    for item in spec:
        kind = item[0]
        if kind == "conv":
            _, c, k, s, p, d, g = item
            net.add(nn.Conv2D(c, k, strides=s, padding=p, dilation=d, groups=g))
        elif kind in ("max", "avg"):
            _, k, s, p = item
            cls = nn.MaxPool2D if kind == "max" else nn.AvgPool2D
            net.add(cls(k, strides=s, padding=p))
        elif kind == "bn":
            net.add(nn.BatchNorm())
        elif kind == "ln":
            net.add(nn.LayerNorm())
        elif kind == "act":
            net.add(nn.Activation(item[1]))
        elif kind == "flatten":
            net.add(nn.Flatten())
        elif kind == "gap":
            net.add(nn.GlobalAvgPool2D())
        elif kind == "dropout":
            net.add(nn.Dropout(0.5))
        elif kind == "dense":
            net.add(nn.Dense(item[1]))
    return net


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(stacks(), st.booleans())
def test_infer_shape_gives_the_shapes_a_forward_pass_gives(case, symbolic_batch):
    spec, shape = case
    inferred, real = build(spec), build(spec)

    given_shape = ("batch", *shape[1:]) if symbolic_batch else shape
    out = inferred.infer_shape(given_shape)
    real.initialize(seed=0)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    y = real(x)

    assert out == (("batch",) if symbolic_batch else (shape[0],)) + y.shape[1:]
    inferred_params = {n: p.shape for n, p in inferred.collect_params().items()}
    real_params = {n: p.shape for n, p in real.collect_params().items()}
    assert inferred_params == real_params
    for name, p in real.collect_params().items():
        assert p.data().shape == real_params[name]
    assert all(p.state == State.DECLARED for p in inferred.collect_params().values())
