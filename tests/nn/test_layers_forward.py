"""Each layer's forward pass against an independent computation written here.

The references use float64 and explicit loops over output positions, so they share
no code path with the layers' strided views and BLAS products.
"""

import itertools
import math

import numpy as np
import pytest

from lazymagic import DeferredInitializationError, ShapeError, State, init, nn

RTOL = 1e-5
ATOL = 1e-5


def randomize(net, rng, positive=("running_var",)):
    """Give every materialized parameter random values (positive where needed)."""
    for name, p in net.collect_params().items():
        values = rng.normal(size=p.shape)
        if name.rsplit(".", 1)[-1] in positive:
            values = rng.uniform(0.5, 2.0, size=p.shape)
        p.set_data(values)


def build(layer, x, rng, seed=0):
    """Wrap ``layer`` in a Sequential, materialize it on ``x``, randomize it."""
    net = nn.Sequential(layer)
    net.initialize(seed=seed)
    net(x)
    randomize(net, rng)
    return net


# -- references -------------------------------------------------------------------


def ref_activation(name, z):
    z = np.asarray(z, dtype=np.float64)
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    if name == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    if name == "gelu":
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * z * (1.0 + np.tanh(c * (z + 0.044715 * z**3)))
    if name == "leakyrelu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "identity":
        return z
    raise AssertionError(name)


def ref_dense(x, w, b):
    """``y[n, u] = sum_i x[n, i] w[u, i] + b[u]`` with explicit loops."""
    n_rows, n_in = x.shape
    units = w.shape[0]
    assert w.shape == (units, n_in)
    y = np.zeros((n_rows, units))
    for n in range(n_rows):
        for u in range(units):
            total = 0.0 if b is None else float(b[u])
            for i in range(n_in):
                total += float(x[n, i]) * float(w[u, i])
            y[n, u] = total
    return y


def pair(v):
    """An int or a pair, as a pair."""
    return v if isinstance(v, tuple) else (v, v)


def out_size(n, k, s, p, d):
    return math.floor((n + 2 * p - d * (k - 1) - 1) / s) + 1


def ref_conv(x, w, b, stride, padding, dilation, groups):
    """N-d convolution (cross-correlation), one output value at a time."""
    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim - 2
    n_rows, c_in = x.shape[:2]
    c_out, per_group = w.shape[:2]
    kernel = w.shape[2:]
    assert per_group == c_in // groups
    padded = np.zeros(
        (n_rows, c_in, *(x.shape[2 + a] + 2 * padding[a] for a in range(nd)))
    )
    inner = tuple(slice(padding[a], padding[a] + x.shape[2 + a]) for a in range(nd))
    padded[(slice(None), slice(None), *inner)] = x
    outs = [
        out_size(x.shape[2 + a], kernel[a], stride[a], padding[a], dilation[a])
        for a in range(nd)
    ]
    y = np.zeros((n_rows, c_out, *outs))
    out_per_group = c_out // groups
    for n, o in itertools.product(range(n_rows), range(c_out)):
        g = o // out_per_group
        for pos in itertools.product(*(range(m) for m in outs)):
            total = 0.0 if b is None else float(b[o])
            for c in range(per_group):
                for k in itertools.product(*(range(m) for m in kernel)):
                    idx = tuple(
                        pos[a] * stride[a] + k[a] * dilation[a] for a in range(nd)
                    )
                    total += padded[(n, g * per_group + c, *idx)] * w[(o, c, *k)]
            y[(n, o, *pos)] = total
    return y


def ref_pool(x, op, pool, stride, padding):
    """Max pooling pads with -inf; average pooling counts padding as zeros."""
    x = np.asarray(x, dtype=np.float64)
    nd = x.ndim - 2
    fill = -np.inf if op == "max" else 0.0
    padded = np.full(
        (*x.shape[:2], *(x.shape[2 + a] + 2 * padding[a] for a in range(nd))), fill
    )
    inner = tuple(slice(padding[a], padding[a] + x.shape[2 + a]) for a in range(nd))
    padded[(slice(None), slice(None), *inner)] = x
    outs = [
        out_size(x.shape[2 + a], pool[a], stride[a], padding[a], 1) for a in range(nd)
    ]
    y = np.zeros((*x.shape[:2], *outs))
    for n, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for pos in itertools.product(*(range(m) for m in outs)):
            values = [
                padded[(n, c, *(pos[a] * stride[a] + k[a] for a in range(nd)))]
                for k in itertools.product(*(range(m) for m in pool))
            ]
            y[(n, c, *pos)] = max(values) if op == "max" else sum(values) / len(values)
    return y


# -- dense ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "activation",
    ["relu", "sigmoid", "tanh", "softmax", "gelu", "leakyrelu", "identity", None],
)
def test_dense_matches_explicit_sum_for_each_activation(activation):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6)).astype(np.float32)
    net = build(nn.Dense(5, activation=activation), x, rng)
    w, b = net[0].weight.data(), net[0].bias.data()

    expected = ref_activation(activation or "identity", ref_dense(x, w, b))

    out = net(x)
    assert out.shape == (4, 5)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_dense_weight_has_gluon_layout_units_by_in_units():
    net = nn.Sequential(nn.Dense(7))
    net.initialize()
    net(np.zeros((3, 11), np.float32))
    assert net[0].weight.shape == (7, 11)
    assert net[0].weight.data().shape == (7, 11)
    assert net[0].bias.shape == (7,)


def test_dense_flatten_true_treats_every_trailing_axis_as_features():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 2, 3, 4)).astype(np.float32)
    net = build(nn.Dense(5), x, rng)
    w, b = net[0].weight.data(), net[0].bias.data()
    assert w.shape == (5, 2 * 3 * 4)

    flat = np.array(
        [
            [x[n, i, j, k] for i in range(2) for j in range(3) for k in range(4)]
            for n in range(3)
        ]
    )
    np.testing.assert_allclose(net(x), ref_dense(flat, w, b), rtol=RTOL, atol=ATOL)


def test_dense_flatten_false_applies_to_last_axis_only():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    net = build(nn.Dense(5, flatten=False), x, rng)
    w, b = net[0].weight.data(), net[0].bias.data()
    assert w.shape == (5, 4)

    out = net(x)
    assert out.shape == (2, 3, 5)
    for i in range(2):
        np.testing.assert_allclose(out[i], ref_dense(x[i], w, b), rtol=RTOL, atol=ATOL)


def test_dense_without_bias_has_only_a_weight():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    net = build(nn.Dense(2, use_bias=False), x, rng)
    assert list(net.collect_params()) == ["0.weight"]
    assert net[0].bias is None
    w = net[0].weight.data()
    np.testing.assert_allclose(net(x), ref_dense(x, w, None), rtol=RTOL, atol=ATOL)


def test_dense_with_one_unit_and_one_feature_is_a_scalar_affine_map():
    net = nn.Sequential(nn.Dense(1, in_units=1))
    net.initialize()
    net[0].weight.set_data([[3.0]])
    net[0].bias.set_data([-2.0])
    x = np.array([[0.0], [1.0], [-1.5]], np.float32)
    np.testing.assert_allclose(net(x), 3.0 * x - 2.0)


def test_dense_infers_in_units_from_a_batch_of_zero_rows():
    net = nn.Sequential(nn.Dense(4))
    net.initialize()
    out = net(np.zeros((0, 9), np.float32))
    assert out.shape == (0, 4)
    assert net[0].weight.shape == (4, 9)
    assert net[0].weight.state == State.MATERIALIZED


def test_flattening_dense_infers_from_zero_rows_of_images():
    net = nn.Sequential(nn.Dense(4))
    net.initialize()
    assert net(np.zeros((0, 2, 3, 5), np.float32)).shape == (0, 4)
    assert net[0].weight.shape == (4, 30)


# -- convolution ------------------------------------------------------------------


@pytest.mark.parametrize(
    "stride, padding, dilation, groups, use_bias",
    [
        (1, 0, 1, 1, True),
        (2, 1, 1, 1, True),
        ((1, 2), (2, 0), 1, 1, True),
        (1, 1, 2, 1, True),
        (1, 0, 1, 2, True),
        (2, 2, (2, 1), 2, False),
        (1, 1, 1, 4, True),
    ],
)
def test_conv2d_matches_loops(stride, padding, dilation, groups, use_bias):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 7, 6)).astype(np.float32)
    layer = nn.Conv2D(
        4,
        (3, 2),
        strides=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        use_bias=use_bias,
    )
    net = build(layer, x, rng)
    w = layer.weight.data()
    b = layer.bias.data() if use_bias else None
    assert w.shape == (4, 4 // groups, 3, 2)

    expected = ref_conv(x, w, b, pair(stride), pair(padding), pair(dilation), groups)

    out = net(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)


def test_conv2d_three_by_three_kernel_on_three_by_three_map_gives_one_by_one():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 3, 3)).astype(np.float32)
    net = build(nn.Conv2D(5, 3), x, rng)
    w, b = net[0].weight.data(), net[0].bias.data()

    out = net(x)
    assert out.shape == (2, 5, 1, 1)
    for n in range(2):
        for o in range(5):
            value = b[o] + sum(
                x[n, c, i, j] * w[o, c, i, j]
                for c in range(3)
                for i in range(3)
                for j in range(3)
            )
            assert out[n, o, 0, 0] == pytest.approx(value, rel=RTOL, abs=ATOL)


@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 3, 1), (1, 0, 1, 3), (3, 1, 2, 3)],
)
def test_conv1d_matches_loops(stride, padding, dilation, groups):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 3, 11)).astype(np.float32)
    layer = nn.Conv1D(
        6, 3, strides=stride, padding=padding, dilation=dilation, groups=groups
    )
    net = build(layer, x, rng)
    w, b = layer.weight.data(), layer.bias.data()
    assert w.shape == (6, 3 // groups, 3)

    expected = ref_conv(x, w, b, (stride,), (padding,), (dilation,), groups)
    np.testing.assert_allclose(net(x), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "activation", ["relu", "sigmoid", "tanh", "softmax", "gelu", "leakyrelu", None]
)
@pytest.mark.parametrize("stride, use_bias", [(1, True), (2, True), (1, False)])
@pytest.mark.parametrize("column_bytes", [1, 1 << 22])
def test_conv2d_activation_applies_after_the_bias(
    activation, stride, use_bias, column_bytes, monkeypatch
):
    # The bias and part of the activation may be folded into the product; one
    # example's columns at a time (column_bytes=1) checks that per block too.
    from lazymagic.nn import conv

    monkeypatch.setattr(conv, "COLUMN_BYTES", column_bytes)
    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 2, 5, 6)).astype(np.float32)
    layer = nn.Conv2D(
        3, 2, strides=stride, padding=1, activation=activation, use_bias=use_bias
    )
    net = build(layer, x, rng)
    w = layer.weight.data()
    b = layer.bias.data() if use_bias else None
    pre = ref_conv(x, w, b, (stride, stride), (1, 1), (1, 1), 1)
    if activation == "softmax":  # over the last axis, as everywhere
        expected = ref_activation("softmax", pre)
    else:
        expected = ref_activation(activation or "identity", pre)
    np.testing.assert_allclose(net(x), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_conv1d_activation_applies_after_the_bias(activation):
    rng = np.random.default_rng(9)
    x = rng.normal(size=(2, 3, 9)).astype(np.float32)
    net = build(nn.Conv1D(4, 3, activation=activation), x, rng)
    w, b = net[0].weight.data(), net[0].bias.data()
    expected = ref_activation(activation, ref_conv(x, w, b, (1,), (0,), (1,), 1))
    np.testing.assert_allclose(net(x), expected, rtol=RTOL, atol=ATOL)


def test_sigmoid_of_a_convolution_saturates_without_overflow():
    # Weights large enough that the products reach ±1e4: 0 and 1, never NaN.
    x = np.ones((1, 1, 3, 3), np.float32)
    layer = nn.Conv2D(2, 3, activation="sigmoid")
    net = nn.Sequential(layer)
    net.initialize()
    net(x)
    layer.weight.set_data(np.stack([np.full((1, 3, 3), 2e3), np.full((1, 3, 3), -2e3)]))
    out = net(x)
    np.testing.assert_array_equal(out.ravel(), [1.0, 0.0])


def test_conv2d_infers_in_channels_from_zero_rows():
    net = nn.Sequential(nn.Conv2D(4, 3, groups=2))
    net.initialize()
    out = net(np.zeros((0, 6, 5, 5), np.float32))
    assert out.shape == (0, 4, 3, 3)
    assert net[0].weight.shape == (4, 3, 3, 3)
    assert net[0].in_channels == 6


# -- pooling ----------------------------------------------------------------------


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize(
    "pool, stride, padding",
    [
        (2, None, 0),
        (3, 1, 1),
        ((2, 3), (1, 2), (1, 0)),
        (3, 2, 1),
        (1, None, 0),
        (1, 2, 0),
        ((1, 3), (2, 1), (0, 1)),
        ((3, 1), 2, 0),
    ],
)
def test_pool2d_matches_loops(op, pool, stride, padding):
    rng = np.random.default_rng(9)
    # All negative, so max pooling over zero padding would give a wrong 0.
    x = -rng.uniform(0.5, 3.0, size=(2, 3, 6, 7)).astype(np.float32)
    cls = nn.MaxPool2D if op == "max" else nn.AvgPool2D
    net = nn.Sequential(cls(pool, strides=stride, padding=padding))

    strides = pair(pool) if stride is None else pair(stride)  # defaults to pool size
    expected = ref_pool(x, op, pair(pool), strides, pair(padding))

    out = net(x)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    # A fresh array: later layers may work in place, and must not reach x.
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("pool, stride, padding", [(2, None, 0), (3, 2, 1), (4, 1, 2)])
def test_pool1d_matches_loops(op, pool, stride, padding):
    rng = np.random.default_rng(10)
    x = -rng.uniform(0.5, 3.0, size=(2, 2, 9)).astype(np.float32)
    cls = nn.MaxPool1D if op == "max" else nn.AvgPool1D
    net = nn.Sequential(cls(pool, strides=stride, padding=padding))
    expected = ref_pool(
        x, op, (pool,), (pool if stride is None else stride,), (padding,)
    )
    np.testing.assert_allclose(net(x), expected, rtol=RTOL, atol=ATOL)


def test_pool_stride_defaults_to_pool_size():
    pool = nn.MaxPool2D(3)
    assert pool.strides == (3, 3)
    x = np.arange(2 * 9 * 9, dtype=np.float32).reshape(1, 2, 9, 9)
    out = nn.Sequential(pool)(x)
    assert out.shape == (1, 2, 3, 3)
    # In an increasing ramp the max of each window is its bottom-right corner.
    for i, j in itertools.product(range(3), range(3)):
        assert out[0, 1, i, j] == x[0, 1, 3 * i + 2, 3 * j + 2]


def test_average_pool_counts_padding_as_zeros():
    x = np.ones((1, 1, 2, 2), np.float32)
    out = nn.Sequential(nn.AvgPool2D(2, strides=1, padding=1))(x)
    # Corner windows hold one real value of four; the center one all four.
    expected = np.array([[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
    np.testing.assert_allclose(out[0, 0], expected)


def test_max_pool_padding_never_wins_over_negative_values():
    x = np.full((1, 1, 2, 2), -5.0, np.float32)
    out = nn.Sequential(nn.MaxPool2D(2, strides=1, padding=1))(x)
    np.testing.assert_array_equal(out, np.full((1, 1, 3, 3), -5.0))


def test_average_pool_of_half_precision_does_not_overflow_its_sum():
    # Four values of 40000 sum to 160000, past float16's largest, 65504.
    x = np.full((1, 1, 4, 4), 40000, np.float16)
    out = nn.Sequential(nn.AvgPool2D(2))(x)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 40000, np.float16))


def test_max_pool_of_booleans_says_whether_any_value_in_the_window_is_true():
    x = np.zeros((1, 1, 4, 4), bool)
    x[0, 0, 0, 1] = x[0, 0, 3, 3] = True
    out = nn.Sequential(nn.MaxPool2D(2, padding=1))(x)
    # Windows start at -1 with padding 1: rows/cols {-1,0}, {1,2}, {3,4}.
    expected = np.zeros((1, 1, 3, 3), bool)
    expected[0, 0, 0, 1] = expected[0, 0, 2, 2] = True
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    "layer, text",
    [
        (nn.Conv2D(4, 3, strides=(1, 2)), "conv2d 4 kernel=3 stride=(1, 2)"),
        (nn.Conv2D(4, 3, strides=2), "conv2d 4 kernel=3 stride=2"),
        (nn.Conv2D(4, (3, 1)), "conv2d 4 kernel=(3, 1)"),
    ],
)
def test_convolutions_describe_their_strides_in_full(layer, text):
    assert layer.describe() == text


@pytest.mark.parametrize("column_bytes", [1, 3_000, 1 << 22])
@pytest.mark.parametrize("groups", [2, 6])
def test_grouped_convolution_in_blocks_matches_loops(groups, column_bytes, monkeypatch):
    from lazymagic.nn import conv

    monkeypatch.setattr(conv, "COLUMN_BYTES", column_bytes)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(5, 6, 7, 6)).astype(np.float32)
    layer = nn.Conv2D(6, 3, padding=1, groups=groups, activation="tanh")
    net = build(layer, x, rng)
    w, b = layer.weight.data(), layer.bias.data()
    expected = ref_activation("tanh", ref_conv(x, w, b, (1, 1), (1, 1), (1, 1), groups))
    np.testing.assert_allclose(net(x), expected, rtol=RTOL, atol=ATOL)


def test_depthwise_convolution_memory_stays_near_its_input_and_output():
    # Every 3×3 window copied at once would be 9 times the input (18 MiB here);
    # in blocks of about 4 MiB, the peak stays near input + output + one block.
    import tracemalloc

    x = np.ones((32, 16, 48, 48), np.float32)  # 4.5 MiB
    net = nn.Sequential(nn.Conv2D(16, 3, padding=1, groups=16))
    net.initialize()
    net(x[:1])
    tracemalloc.start()
    try:
        out = net(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    bound = x.nbytes + out.nbytes + 3 * (1 << 22)  # padded copy, output, a block
    assert peak < bound, (peak, bound)


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5)])
def test_global_avg_pool_keeps_spatial_axes_as_size_one(shape):
    rng = np.random.default_rng(11)
    x = rng.normal(size=shape).astype(np.float32)
    out = nn.Sequential(nn.GlobalAvgPool())(x)
    assert out.shape == (*shape[:2], *([1] * (len(shape) - 2)))
    for n, c in itertools.product(range(shape[0]), range(shape[1])):
        values = x[n, c].ravel().tolist()
        assert out[n, c].item() == pytest.approx(sum(values) / len(values), abs=1e-6)


def test_global_avg_pool_2d_refuses_a_3d_input():
    with pytest.raises(ShapeError, match=r"layer '0'.*4-D"):
        nn.Sequential(nn.GlobalAvgPool2D())(np.zeros((1, 2, 3), np.float32))


# -- flatten ----------------------------------------------------------------------


def test_flatten_keeps_the_batch_axis_in_row_major_order():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out = nn.Sequential(nn.Flatten())(x)
    assert out.shape == (2, 60)
    for n in range(2):
        expected = [x[n, c, h, w] for c in range(3) for h in range(4) for w in range(5)]
        assert out[n].tolist() == expected


def test_flatten_of_zero_rows_keeps_the_feature_size():
    assert nn.Sequential(nn.Flatten())(np.zeros((0, 3, 4), np.float32)).shape == (0, 12)


# -- normalization ----------------------------------------------------------------


def ref_batchnorm(x, mean, var, gamma, beta, eps):
    y = np.zeros(x.shape)
    for c in range(x.shape[1]):
        y[:, c] = (x[:, c] - mean[c]) / math.sqrt(var[c] + eps) * gamma[c] + beta[c]
    return y


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 2, 2)])
def test_batchnorm_inference_uses_running_statistics(shape):
    rng = np.random.default_rng(12)
    x = rng.normal(2.0, 3.0, size=shape).astype(np.float32)
    net = build(nn.BatchNorm(), x, rng)
    bn = net[0]
    mean, var = bn.running_mean.data().copy(), bn.running_var.data().copy()
    gamma, beta = bn.gamma.data(), bn.beta.data()

    out = net(x)

    expected = ref_batchnorm(x.astype(np.float64), mean, var, gamma, beta, 1e-5)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(bn.running_mean.data(), mean)
    np.testing.assert_array_equal(bn.running_var.data(), var)


def test_batchnorm_training_normalizes_by_batch_and_updates_running_stats():
    rng = np.random.default_rng(13)
    x = rng.normal(1.0, 2.0, size=(6, 3, 2, 2)).astype(np.float32)
    net = build(nn.BatchNorm(momentum=0.8), x, rng)
    bn = net[0]
    old_mean = bn.running_mean.data().copy()
    old_var = bn.running_var.data().copy()
    gamma, beta = bn.gamma.data(), bn.beta.data()

    batch_mean, biased, unbiased = [], [], []
    for c in range(3):
        values = x[:, c].astype(np.float64).ravel().tolist()
        m = sum(values) / len(values)
        squares = sum((v - m) ** 2 for v in values)
        batch_mean.append(m)
        biased.append(squares / len(values))
        unbiased.append(squares / (len(values) - 1))
    expected = ref_batchnorm(
        x.astype(np.float64), batch_mean, biased, gamma, beta, 1e-5
    )

    out = net(x, training=True)

    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        bn.running_mean.data(), 0.8 * old_mean + 0.2 * np.array(batch_mean), rtol=1e-5
    )
    np.testing.assert_allclose(
        bn.running_var.data(), 0.8 * old_var + 0.2 * np.array(unbiased), rtol=1e-5
    )


def test_batchnorm_default_momentum_is_gluons_point_nine():
    x = np.array([[0.0], [2.0]], np.float32)
    net = nn.Sequential(nn.BatchNorm())
    net.initialize()
    net(x, training=True)
    # Running stats start at 0 and 1; the batch has mean 1, unbiased variance 2.
    assert net[0].running_mean.data()[0] == pytest.approx(0.9 * 0 + 0.1 * 1.0)
    assert net[0].running_var.data()[0] == pytest.approx(0.9 * 1 + 0.1 * 2.0)


def test_batchnorm_running_stats_unchanged_when_a_training_pass_fails():
    net = nn.Sequential(nn.BatchNorm(in_channels=2), nn.Embedding(10, 2))
    net.initialize()
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 9.0]], np.float32)
    mean = net[0].running_mean.data().copy()
    var = net[0].running_var.data().copy()
    assert mean.tolist() == [0.0, 0.0] and var.tolist() == [1.0, 1.0]

    # In training the normalized values are not whole numbers: the lookup fails.
    with pytest.raises(ShapeError, match=r"layer '1'"):
        net(x, training=True)

    np.testing.assert_array_equal(net[0].running_mean.data(), mean)
    np.testing.assert_array_equal(net[0].running_var.data(), var)


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 5)])
def test_layernorm_normalizes_the_last_axis(shape):
    rng = np.random.default_rng(14)
    x = rng.normal(3.0, 2.0, size=shape).astype(np.float32)
    net = build(nn.LayerNorm(), x, rng)
    gamma, beta = net[0].gamma.data(), net[0].beta.data()
    assert gamma.shape == (shape[-1],)

    rows = x.reshape(-1, shape[-1]).astype(np.float64)
    expected = np.zeros(rows.shape)
    for r, row in enumerate(rows):
        m = sum(row) / len(row)
        v = sum((e - m) ** 2 for e in row) / len(row)
        expected[r] = (row - m) / math.sqrt(v + 1e-5) * gamma + beta

    out = net(x)
    np.testing.assert_allclose(out.reshape(rows.shape), expected, rtol=1e-4, atol=1e-5)


# -- dropout ----------------------------------------------------------------------


def test_dropout_is_identity_outside_training():
    x = np.random.default_rng(15).normal(size=(50, 20)).astype(np.float32)
    net = nn.Sequential(nn.Dropout(0.5))
    np.testing.assert_array_equal(net(x), x)


def test_dropout_in_training_zeros_about_rate_and_scales_survivors():
    rate = 0.3
    x = np.random.default_rng(16).uniform(1.0, 2.0, size=(400, 500)).astype(np.float32)
    out = nn.Sequential(nn.Dropout(rate))(x, training=True)

    dropped = out == 0
    fraction = dropped.mean()
    # Binomial standard error is sqrt(p (1 - p) / n), about 0.00065 here; allow 6.
    assert abs(fraction - rate) < 6 * math.sqrt(rate * (1 - rate) / x.size)
    np.testing.assert_allclose(out[~dropped], x[~dropped] / (1 - rate), rtol=1e-6)


def test_dropout_rate_zero_passes_through_in_training():
    x = np.ones((3, 4), np.float32)
    np.testing.assert_array_equal(nn.Sequential(nn.Dropout(0.0))(x, training=True), x)


# -- embedding --------------------------------------------------------------------


def test_embedding_looks_up_rows_of_the_weight():
    rng = np.random.default_rng(17)
    idx = rng.integers(0, 7, size=(3, 4))
    net = build(nn.Embedding(7, 5), idx, rng)
    w = net[0].weight.data()
    assert w.shape == (7, 5)

    out = net(idx)
    assert out.shape == (3, 4, 5)
    for i, j in itertools.product(range(3), range(4)):
        assert out[i, j].tolist() == w[idx[i, j]].tolist()


def test_embedding_accepts_whole_float_indices():
    rng = np.random.default_rng(18)
    net = build(nn.Embedding(4, 2), np.array([[0, 1]]), rng)
    w = net[0].weight.data()
    out = net(np.array([[3.0, 0.0]], np.float32))
    assert out[0].tolist() == [w[3].tolist(), w[0].tolist()]


@pytest.mark.parametrize("bad", [-1, 7, 100])
def test_embedding_refuses_out_of_range_index_without_wrapping(bad):
    net = nn.Sequential(nn.Embedding(7, 3))
    net.initialize()
    idx = np.array([[0, 1], [2, bad]])

    with pytest.raises(ShapeError, match=rf"layer '0'.*index {bad}\b.*0 to 6"):
        net(idx)

    # The weight had a known shape, so initialize() materialized it; still there.
    assert net[0].weight.state == State.MATERIALIZED


def test_failed_embedding_lookup_rolls_back_materialization():
    dense = nn.Dense(3, weight_initializer=init.Constant(0.1))
    net = nn.Sequential(dense, nn.Activation("relu"), nn.Embedding(4, 2))
    net.initialize()
    # Each unit gives 5 · 50 · 0.1 = 25, an index past the vocabulary of 4.
    with pytest.raises(ShapeError, match=r"layer '2'.*index 25"):
        net(np.full((1, 5), 50.0, np.float32))
    assert net[0].weight.state == State.PENDING
    assert net[0].weight.shape == (3, None)
    with pytest.raises(DeferredInitializationError):
        net[0].weight.data()


# -- activations as layers --------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["relu", "sigmoid", "tanh", "softmax", "gelu", "leakyrelu", "identity"]
)
def test_activation_layer_matches_formula(name):
    x = np.random.default_rng(19).normal(0, 3, size=(4, 7)).astype(np.float32)
    out = nn.Sequential(nn.Activation(name))(x)
    np.testing.assert_allclose(out, ref_activation(name, x), rtol=RTOL, atol=ATOL)


def test_leaky_relu_layer_uses_its_alpha():
    x = np.array([[-2.0, -0.5, 0.0, 3.0]], np.float32)
    out = nn.Sequential(nn.LeakyReLU(0.2))(x)
    np.testing.assert_allclose(out, [[-0.4, -0.1, 0.0, 3.0]], rtol=1e-6)


def test_sigmoid_and_softmax_do_not_overflow_on_large_inputs():
    x = np.array([[-1000.0, 0.0, 1000.0]], np.float32)
    np.testing.assert_allclose(
        nn.Sequential(nn.Activation("sigmoid"))(x), [[0.0, 0.5, 1.0]], atol=1e-7
    )
    np.testing.assert_allclose(
        nn.Sequential(nn.Activation("softmax"))(x), [[0.0, 0.0, 1.0]], atol=1e-7
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_keeps_its_relative_precision_in_the_tails(dtype):
    # 1 / (1 + e^-x), worked in float64 by hand: sigmoid(-20) = 2.0611536e-9.
    x = np.array([[-30.0, -20.0, -5.0, 0.0, 5.0, 20.0]], dtype)
    expected = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    assert expected[0, 1] == pytest.approx(2.0611536224385579e-09, rel=1e-12)
    as_layer = nn.Sequential(nn.Activation("sigmoid"))(x)
    # Through a product too, where the layer folds the negation into its weights.
    dense = nn.Dense(6, activation="sigmoid", use_bias=False, in_units=6)
    dense.initialize()
    dense.weight.set_data(np.eye(6))
    net = nn.Sequential(nn.Conv1D(1, 1, activation="sigmoid", use_bias=False))
    net.initialize()
    net(x[:, None, :])
    net[0].weight.set_data(np.ones((1, 1, 1)))
    for out in (as_layer, dense(x.astype(np.float32)), net(x[:, None, :])[:, 0]):
        np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_gelu_reaches_its_limits_without_overflow_warnings():
    # GELU(x) -> x for large x and -> 0 for very negative x; x³ overflows float32.
    x = np.array([[-1e20, -30.0, 30.0, 1e20]], np.float32)
    out = nn.Sequential(nn.Activation("gelu"))(x)  # warnings are errors here
    np.testing.assert_array_equal(out, np.float32([[0.0, 0.0, 30.0, 1e20]]))


def test_softmax_rows_sum_to_one():
    x = np.random.default_rng(20).normal(size=(5, 9)).astype(np.float32)
    out = nn.Sequential(nn.Dense(4, activation="softmax"))
    out.initialize(init.Normal(1.0), seed=0)
    rows = out(x).astype(np.float64).sum(axis=1)
    np.testing.assert_allclose(rows, np.ones(5), rtol=1e-6)
