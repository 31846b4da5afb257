"""Sequential, Residual, Repeat and tied parameters (``share=``)."""

import numpy as np
import pytest

from lazymagic import DeferredInitializationError, ShapeError, State, init, nn


def snapshot(net):
    """Every parameter's name, shape, state and (a copy of) its values."""
    out = {}
    for name, p in net.collect_params().items():
        data = None if p._data is None else p._data.copy()
        out[name] = (p.shape, p.state, data)
    return out


def assert_unchanged(net, before):
    after = snapshot(net)
    assert list(after) == list(before)
    for name, (shape, state, data) in before.items():
        assert after[name][0] == shape, name
        assert after[name][1] == state, name
        if data is None:
            assert after[name][2] is None, name
        else:
            np.testing.assert_array_equal(after[name][2], data)


def affine(x, w, b):
    """``x @ w.T + b`` with explicit loops, in float64."""
    y = np.zeros((x.shape[0], w.shape[0]))
    for n in range(x.shape[0]):
        for u in range(w.shape[0]):
            y[n, u] = b[u] + sum(
                float(x[n, i]) * float(w[u, i]) for i in range(w.shape[1])
            )
    return y


# -- Sequential -------------------------------------------------------------------


def test_sequential_add_appends_in_order_and_supports_len_and_indexing():
    a, b, c = nn.Dense(4), nn.Activation("relu"), nn.Dense(2)
    net = nn.Sequential()
    assert len(net) == 0
    net.add(a)
    net.add(b, c)
    assert len(net) == 3
    assert net[0] is a and net[1] is b and net[2] is c
    assert net[-1] is c
    assert list(net) == [a, b, c]


def test_sequential_indexes_children_by_label():
    fc1 = nn.Dense(4, label="fc1")
    net = nn.Sequential(nn.Dense(3), fc1)
    assert net["fc1"] is fc1
    with pytest.raises(KeyError, match="fc1"):
        net["fc2"]


def test_labels_replace_indices_in_dotted_names():
    inner = nn.Sequential(nn.Dense(3), nn.Dense(2, label="out"), label="head")
    net = nn.Sequential(
        nn.Dense(5, label="fc1"), nn.Activation("relu"), inner, nn.Dense(1)
    )
    assert list(net.collect_params()) == [
        "fc1.weight",
        "fc1.bias",
        "head.0.weight",
        "head.0.bias",
        "head.out.weight",
        "head.out.bias",
        "3.weight",
        "3.bias",
    ]


def test_label_with_a_dot_is_refused():
    with pytest.raises(ValueError, match="'a.b'"):
        nn.Dense(3, label="a.b")


def test_sequential_forward_composes_its_children():
    rng = np.random.default_rng(0)
    net = nn.Sequential(nn.Dense(4, activation="tanh"), nn.Dense(3))
    net.initialize(init.Normal(0.5), seed=1)
    x = rng.normal(size=(2, 5)).astype(np.float32)
    out = net(x)
    net[1].bias.set_data(rng.normal(size=3))
    out = net(x)

    w0, b0 = net[0].weight.data(), net[0].bias.data()
    w1, b1 = net[1].weight.data(), net[1].bias.data()
    expected = affine(np.tanh(affine(x, w0, b0)), w1, b1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_sequential_takes_only_blocks():
    with pytest.raises(TypeError, match="Sequential.add"):
        nn.Sequential().add("dense 3")


# -- Residual ---------------------------------------------------------------------


def test_residual_adds_its_input_to_the_body_output():
    rng = np.random.default_rng(2)
    net = nn.Sequential(nn.Residual(nn.Dense(4, activation="relu"), nn.Dense(4)))
    net.initialize(init.Normal(0.5), seed=3)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    net(x)
    body = net[0].body
    body[1].bias.set_data(rng.normal(size=4))

    h = np.maximum(affine(x, body[0].weight.data(), body[0].bias.data()), 0)
    expected = affine(h, body[1].weight.data(), body[1].bias.data()) + x
    np.testing.assert_allclose(net(x), expected, rtol=1e-5, atol=1e-6)


def test_residual_with_shortcut_adds_the_shortcut_output():
    rng = np.random.default_rng(4)
    net = nn.Sequential(nn.Residual(nn.Dense(6), shortcut=nn.Dense(6, use_bias=False)))
    net.initialize(init.Normal(0.5), seed=5)
    x = rng.normal(size=(2, 3)).astype(np.float32)
    net(x)
    res = net[0]
    assert list(net.collect_params()) == [
        "0.0.weight",
        "0.0.bias",
        "0.shortcut.0.weight",
    ]
    assert res.shortcut[0].weight.shape == (6, 3)

    expected = affine(x, res[0].weight.data(), res[0].bias.data()) + affine(
        x, res.shortcut[0].weight.data(), np.zeros(6)
    )
    np.testing.assert_allclose(net(x), expected, rtol=1e-5, atol=1e-6)


def test_residual_of_convolutions_keeps_the_input_shape():
    net = nn.Sequential(
        nn.Residual(nn.Conv2D(3, 3, padding=1), nn.BatchNorm(), nn.Activation("relu"))
    )
    net.initialize(init.Zero())
    x = np.random.default_rng(6).normal(size=(2, 3, 5, 5)).astype(np.float32)
    # Zero weights and biases: the body gives relu(batchnorm(0)) = 0, so out = x.
    np.testing.assert_allclose(net(x), x, atol=1e-6)


@pytest.mark.parametrize("how", ["forward", "infer_shape"])
def test_residual_that_changes_shape_without_shortcut_changes_nothing(how):
    net = nn.Sequential(
        nn.Dense(4),
        nn.Residual(nn.Dense(5, activation="relu")),
        nn.Dense(2),
    )
    net.initialize()
    before = snapshot(net)
    assert before["0.weight"][1] == State.PENDING

    with pytest.raises(ShapeError, match=r"residual block '1'.*\(2, 4\).*\(2, 5\)"):
        if how == "forward":
            net(np.zeros((2, 3), np.float32))
        else:
            net.infer_shape((2, 3))

    assert_unchanged(net, before)


def test_residual_error_says_to_add_a_shortcut():
    net = nn.Sequential(nn.Residual(nn.Conv2D(8, 3, padding=1)))
    with pytest.raises(
        ShapeError, match=r"(?s)\(1, 4, 6, 6\).*\(1, 8, 6, 6\).*shortcut"
    ):
        net.infer_shape((1, 4, 6, 6))
    assert net[0][0].weight.shape == (8, None, 3, 3)
    assert net[0][0].weight.state == State.DECLARED


def test_residual_with_wrong_shortcut_names_both_shapes():
    net = nn.Sequential(
        nn.Residual(nn.Conv2D(8, 3, padding=1, strides=2), shortcut=nn.Conv2D(8, 1))
    )
    net.initialize()
    before = snapshot(net)
    with pytest.raises(
        ShapeError, match=r"(?s)shortcut giving \(1, 8, 6, 6\).*\(1, 8, 3, 3\)"
    ):
        net(np.zeros((1, 4, 6, 6), np.float32))
    assert_unchanged(net, before)


# -- Repeat -----------------------------------------------------------------------


def test_repeat_makes_n_copies_with_distinct_dotted_names():
    net = nn.Sequential(nn.Dense(4), nn.Repeat(3, nn.Dense(4), nn.Activation("relu")))
    names = list(net.collect_params())
    assert names == [
        "0.weight",
        "0.bias",
        "1.0.0.weight",
        "1.0.0.bias",
        "1.1.0.weight",
        "1.1.0.bias",
        "1.2.0.weight",
        "1.2.0.bias",
    ]
    params = list(net.collect_params().values())
    assert len({id(p) for p in params}) == len(params)


def test_repeat_copies_have_independent_values():
    net = nn.Sequential(nn.Repeat(2, nn.Dense(4, in_units=4)))
    net.initialize(init.Normal(1.0), seed=7)
    first = net[0][0][0].weight
    second = net[0][1][0].weight
    assert first is not second
    assert not np.array_equal(first.data(), second.data())

    first.set_data(np.zeros((4, 4)))
    assert np.any(second.data() != 0)


def test_repeat_forward_applies_each_copy_in_turn():
    rng = np.random.default_rng(8)
    net = nn.Sequential(nn.Repeat(3, nn.Dense(3, activation="tanh")))
    net.initialize(init.Normal(0.5), seed=9)
    x = rng.normal(size=(2, 3)).astype(np.float32)
    out = net(x)

    h = x.astype(np.float64)
    for i in range(3):
        layer = net[0][i][0]
        h = np.tanh(affine(h, layer.weight.data(), layer.bias.data()))
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)


def test_repeat_needs_a_positive_count():
    with pytest.raises(ValueError, match="at least 1"):
        nn.Repeat(0, nn.Dense(3))


# -- tied parameters --------------------------------------------------------------


def test_shared_layer_uses_the_same_parameter_objects():
    shared = nn.Dense(8, activation="relu", label="shared")
    tied = nn.Dense(8, activation="relu", share=shared)
    assert tied.weight is shared.weight
    assert tied.bias is shared.bias


def test_collect_params_lists_a_tied_parameter_once_under_its_first_name():
    shared = nn.Dense(8, activation="relu", label="shared")
    net = nn.Sequential(nn.Dense(8), shared, nn.Dense(8, share=shared), nn.Dense(1))
    params = net.collect_params()
    assert list(params) == [
        "0.weight",
        "0.bias",
        "shared.weight",
        "shared.bias",
        "3.weight",
        "3.bias",
    ]
    assert params["shared.weight"] is net[2].weight


def test_tied_layers_compute_with_one_weight():
    rng = np.random.default_rng(10)
    shared = nn.Dense(4, activation="relu")
    net = nn.Sequential(shared, nn.Dense(4, activation="relu", share=shared))
    net.initialize(init.Normal(0.5), seed=11)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    net(x)
    shared.bias.set_data(rng.normal(size=4))

    w, b = shared.weight.data(), shared.bias.data()
    expected = np.maximum(affine(np.maximum(affine(x, w, b), 0), w, b), 0)
    np.testing.assert_allclose(net(x), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("how", ["forward", "infer_shape"])
def test_tied_layers_inferring_different_shapes_name_both_layers(how):
    shared = nn.Dense(8, label="a")
    net = nn.Sequential(shared, nn.Dense(8, share=shared, label="b"))
    net.initialize()
    before = snapshot(net)

    # 'a' sees 5 features and needs (8, 5); 'b' sees a's 8 outputs and needs (8, 8).
    with pytest.raises(
        ShapeError, match=r"(?s)layer 'a'.*layer 'b'.*\(8, 5\).*\(8, 8\)"
    ):
        if how == "forward":
            net(np.zeros((2, 5), np.float32))
        else:
            net.infer_shape(("batch", 5))

    assert_unchanged(net, before)
    with pytest.raises(DeferredInitializationError):
        shared.weight.data()


def test_share_with_another_kind_of_layer_is_refused():
    with pytest.raises(TypeError, match="dense"):
        nn.Dense(3, share=nn.Conv2D(3, 3))


def test_share_declaring_a_contradicting_size_is_refused():
    shared = nn.Dense(8, in_units=4)
    with pytest.raises(ShapeError, match=r"\(8, 4\).*\(8, 5\)"):
        nn.Dense(8, in_units=5, share=shared)


def test_repeat_keeps_ties_to_layers_outside_its_body():
    shared = nn.Dense(4, label="outside")
    net = nn.Sequential(shared, nn.Repeat(2, nn.Dense(4, share=shared)))
    params = net.collect_params()
    assert list(params) == ["outside.weight", "outside.bias"]
    assert net[1][0][0].weight is shared.weight
    assert net[1][1][0].weight is shared.weight


@pytest.mark.parametrize(
    "make",
    [
        lambda **kw: nn.Dense(3, **kw),
        lambda **kw: nn.Conv1D(2, 3, **kw),
        lambda **kw: nn.Conv2D(2, 3, **kw),
        lambda **kw: nn.MaxPool1D(**kw),
        lambda **kw: nn.MaxPool2D(**kw),
        lambda **kw: nn.AvgPool1D(**kw),
        lambda **kw: nn.AvgPool2D(**kw),
        lambda **kw: nn.GlobalAvgPool2D(**kw),
        lambda **kw: nn.Flatten(**kw),
        lambda **kw: nn.BatchNorm(**kw),
        lambda **kw: nn.LayerNorm(**kw),
        lambda **kw: nn.Dropout(0.5, **kw),
        lambda **kw: nn.Embedding(5, 2, **kw),
        lambda **kw: nn.Activation("relu", **kw),
        lambda **kw: nn.LeakyReLU(0.1, **kw),
    ],
)
def test_every_layer_constructor_takes_label_and_share(make):
    first = make(label="a")
    second = make(label="b", share=first)
    assert (first.label, second.label, second.share) == ("a", "b", first)
    # Whatever parameters there are, the second layer uses the first one's.
    for name, param in first._params.items():
        assert second._params[name] is param
