"""The same weights in lazymagic and PyTorch give the same outputs.

Optional: skipped where PyTorch is not installed.
"""

import numpy as np
import pytest

from lazymagic import init, nn

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-5
ATOL = 1e-5


def t(array):
    return torch.from_numpy(np.ascontiguousarray(array))


def materialized(net, x, seed=0):
    """Initialize with a wide normal (so outputs are not all tiny), run once."""
    net.initialize(init.Normal(0.5), seed=seed)
    net(x)
    rng = np.random.default_rng(seed)
    for name, p in net.collect_params().items():
        if name.endswith("running_var"):
            p.set_data(rng.uniform(0.5, 2.0, size=p.shape))
        elif p.shape and name.rsplit(".", 1)[-1] in ("bias", "beta", "running_mean"):
            p.set_data(rng.normal(size=p.shape))
        elif name.endswith("gamma"):
            p.set_data(rng.uniform(0.5, 1.5, size=p.shape))
    return net


def close(ours, theirs):
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("flatten", [True, False])
def test_dense_matches_torch_linear(flatten):
    x = np.random.default_rng(1).normal(size=(3, 4, 6)).astype(np.float32)
    net = materialized(nn.Sequential(nn.Dense(5, flatten=flatten)), x)
    w, b = net[0].weight.data(), net[0].bias.data()

    linear = torch.nn.Linear(w.shape[1], 5)
    with torch.no_grad():
        linear.weight.copy_(t(w))  # same (units, in_units) layout
        linear.bias.copy_(t(b))
    inputs = t(x).reshape(3, -1) if flatten else t(x)
    close(net(x), linear(inputs))


@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [
        (1, 0, 1, 1),
        (2, 1, 1, 1),
        ((2, 1), (0, 2), (1, 2), 1),
        (1, 1, 2, 2),
        (2, 2, 1, 4),
    ],
)
def test_conv2d_matches_torch(stride, padding, dilation, groups):
    x = np.random.default_rng(2).normal(size=(2, 4, 9, 8)).astype(np.float32)
    layer = nn.Conv2D(
        8, (3, 2), strides=stride, padding=padding, dilation=dilation, groups=groups
    )
    net = materialized(nn.Sequential(layer), x)
    expected = F.conv2d(
        t(x),
        t(layer.weight.data()),
        t(layer.bias.data()),
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    close(net(x), expected)


def test_conv1d_matches_torch():
    x = np.random.default_rng(3).normal(size=(2, 6, 13)).astype(np.float32)
    layer = nn.Conv1D(4, 3, strides=2, padding=1, dilation=2, groups=2)
    net = materialized(nn.Sequential(layer), x)
    expected = F.conv1d(
        t(x),
        t(layer.weight.data()),
        t(layer.bias.data()),
        stride=2,
        padding=1,
        dilation=2,
        groups=2,
    )
    close(net(x), expected)


@pytest.mark.parametrize(
    "pool, stride, padding", [(2, None, 0), (3, 2, 1), ((3, 2), 1, (1, 0))]
)
def test_pools_match_torch(pool, stride, padding):
    x = np.random.default_rng(4).normal(size=(2, 3, 7, 8)).astype(np.float32)
    torch_stride = pool if stride is None else stride
    close(
        nn.Sequential(nn.MaxPool2D(pool, strides=stride, padding=padding))(x),
        F.max_pool2d(t(x), pool, torch_stride, padding),
    )
    close(
        nn.Sequential(nn.AvgPool2D(pool, strides=stride, padding=padding))(x),
        F.avg_pool2d(t(x), pool, torch_stride, padding, count_include_pad=True),
    )


def test_pools_1d_and_global_average_match_torch():
    x = np.random.default_rng(5).normal(size=(2, 3, 11)).astype(np.float32)
    close(
        nn.Sequential(nn.MaxPool1D(3, strides=2, padding=1))(x),
        F.max_pool1d(t(x), 3, 2, 1),
    )
    close(
        nn.Sequential(nn.AvgPool1D(3, strides=2, padding=1))(x),
        F.avg_pool1d(t(x), 3, 2, 1),
    )
    x2 = np.random.default_rng(6).normal(size=(2, 3, 5, 4)).astype(np.float32)
    close(nn.Sequential(nn.GlobalAvgPool())(x2), F.adaptive_avg_pool2d(t(x2), 1))


def test_batchnorm_inference_matches_torch_eval():
    x = np.random.default_rng(7).normal(size=(4, 3, 5, 5)).astype(np.float32)
    net = materialized(nn.Sequential(nn.BatchNorm()), x)
    bn = net[0]
    expected = F.batch_norm(
        t(x),
        t(bn.running_mean.data()),
        t(bn.running_var.data()),
        t(bn.gamma.data()),
        t(bn.beta.data()),
        training=False,
        eps=1e-5,
    )
    close(net(x), expected)


def test_batchnorm_training_matches_torch_and_its_running_update():
    x = np.random.default_rng(8).normal(2, 3, size=(4, 3, 5, 5)).astype(np.float32)
    net = materialized(nn.Sequential(nn.BatchNorm(momentum=0.9)), x)
    bn = net[0]
    mean = t(bn.running_mean.data().copy())
    var = t(bn.running_var.data().copy())
    # PyTorch's momentum weighs the batch; Gluon's weighs the running value.
    expected = F.batch_norm(
        t(x),
        mean,
        var,
        t(bn.gamma.data()),
        t(bn.beta.data()),
        training=True,
        momentum=0.1,
        eps=1e-5,
    )
    out = net(x, training=True)
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_mean.data(), mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.data(), var.numpy(), rtol=1e-5)


def test_layernorm_matches_torch():
    x = np.random.default_rng(9).normal(size=(2, 3, 7)).astype(np.float32)
    net = materialized(nn.Sequential(nn.LayerNorm()), x)
    ln = net[0]
    expected = F.layer_norm(t(x), (7,), t(ln.gamma.data()), t(ln.beta.data()), 1e-5)
    close(net(x), expected)


@pytest.mark.parametrize(
    "name, reference",
    [
        ("relu", F.relu),
        ("sigmoid", torch.sigmoid),
        ("tanh", torch.tanh),
        ("softmax", lambda z: F.softmax(z, dim=-1)),
        ("gelu", lambda z: F.gelu(z, approximate="tanh")),
        ("leakyrelu", lambda z: F.leaky_relu(z, 0.01)),
    ],
)
def test_activations_match_torch(name, reference):
    x = np.random.default_rng(10).normal(0, 3, size=(4, 9)).astype(np.float32)
    close(nn.Sequential(nn.Activation(name))(x), reference(t(x)))


def test_embedding_matches_torch():
    idx = np.random.default_rng(11).integers(0, 10, size=(3, 5))
    net = materialized(nn.Sequential(nn.Embedding(10, 4)), idx)
    close(net(idx), F.embedding(t(idx), t(net[0].weight.data())))


def test_lenet_end_to_end_matches_torch():
    net = nn.Sequential(
        nn.Conv2D(6, 5, padding=2, activation="sigmoid"),
        nn.AvgPool2D(2, strides=2),
        nn.Conv2D(16, 5, activation="sigmoid"),
        nn.AvgPool2D(2, strides=2),
        nn.Flatten(),
        nn.Dense(120, activation="sigmoid"),
        nn.Dense(84, activation="sigmoid"),
        nn.Dense(10),
    )
    x = np.random.default_rng(12).uniform(size=(4, 1, 28, 28)).astype(np.float32)
    net.initialize(init.XavierUniform(), seed=13)
    out = net(x)

    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2),
        torch.nn.Sigmoid(),
        torch.nn.AvgPool2d(2, 2),
        torch.nn.Conv2d(6, 16, 5),
        torch.nn.Sigmoid(),
        torch.nn.AvgPool2d(2, 2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120),
        torch.nn.Sigmoid(),
        torch.nn.Linear(120, 84),
        torch.nn.Sigmoid(),
        torch.nn.Linear(84, 10),
    )
    ours = [net[i] for i in (0, 2, 5, 6, 7)]
    theirs = [reference[i] for i in (0, 3, 7, 9, 11)]
    with torch.no_grad():
        for a, b in zip(ours, theirs, strict=True):
            assert tuple(b.weight.shape) == a.weight.shape
            b.weight.copy_(t(a.weight.data()))
            b.bias.copy_(t(a.bias.data()))
        expected = reference(t(x))
    close(out, expected)
