"""Every DSL example of the product description, built and checked against shapes
worked out by hand.

The cells are copied verbatim, comments included, so that the examples users read
are the examples that work.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from lazymagic import ShapeError, State
from lazymagic.dsl.cell import build_cell

# The DSL examples of the product description, verbatim, comments included.
CELLS = {
    path.stem: path.read_text()
    for path in (Path(__file__).parent / "cells").glob("*.lazy")
}
LENET, RESNET = CELLS["lenet"], CELLS["resnet"]
SHORTCUT, EMBEDDING = CELLS["shortcut"], CELLS["embedding"]


def out_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """floor((n + 2p - d(k-1) - 1) / s) + 1, with dilation d = 1."""
    return (n + 2 * padding - (kernel - 1) - 1) // stride + 1


def shapes(net) -> list[tuple[str, tuple[int | None, ...]]]:
    return [(name, p.shape) for name, p in net.collect_params().items()]


def batchnorm(prefix: str, channels: int) -> list[tuple[str, tuple[int, ...]]]:
    return [
        (f"{prefix}.{name}", (channels,))
        for name in ("gamma", "beta", "running_mean", "running_var")
    ]


def test_lenet_example_infers_flatten_size_400_for_fc1():
    net = build_cell(LENET)

    side = out_size(28, kernel=5, padding=2)  # 28
    side = out_size(side, kernel=2, stride=2)  # 14
    side = out_size(side, kernel=5)  # 10
    side = out_size(side, kernel=2, stride=2)  # 5
    flat = 16 * side * side
    assert (side, flat) == (5, 400)
    assert shapes(net) == [
        ("0.weight", (6, 1, 5, 5)),
        ("0.bias", (6,)),
        ("2.weight", (16, 6, 5, 5)),
        ("2.bias", (16,)),
        ("fc1.weight", (120, flat)),
        ("fc1.bias", (120,)),
        ("6.weight", (84, 120)),
        ("6.bias", (84,)),
        ("7.weight", (10, 84)),
        ("7.bias", (10,)),
    ]
    assert net.input_shape == ("batch", 1, 28, 28)
    assert net.infer_shape(net.input_shape) == ("batch", 10)


def test_lenet_example_counts_its_parameters_and_allocates_nothing():
    net = build_cell(LENET)

    params = net.collect_params()
    expected = (
        (6 * 1 * 5 * 5 + 6)
        + (16 * 6 * 5 * 5 + 16)
        + (120 * 400 + 120)
        + (84 * 120 + 84)
        + (10 * 84 + 10)
    )
    assert sum(p.size for p in params.values()) == expected
    assert all(p.state is State.DECLARED for p in params.values())


def test_lenet_example_forward_pass_agrees_with_inferred_shapes():
    net = build_cell(LENET)
    inferred = shapes(net)

    net.initialize(seed=0)
    out = net(np.zeros((2, 1, 28, 28), dtype=np.float32))

    assert out.shape == (2, 10)
    assert shapes(net) == inferred


def test_resnet_example_names_repeat_copies_and_keeps_shapes_through_residuals():
    net = build_cell(RESNET)

    # 3x3 kernels with padding 1 and stride 1 keep 32x32, so every residual body
    # returns its input's shape; global pooling leaves 16 features for the dense.
    assert out_size(32, kernel=3, padding=1) == 32
    expected = [("0.weight", (16, 3, 3, 3)), ("0.bias", (16,))]
    expected += batchnorm("1", 16)
    for copy in (0, 1):  # repeat (layer 3) > copy > residual (0) > its layers
        body = f"3.{copy}.0"
        expected += [(f"{body}.0.weight", (16, 16, 3, 3)), (f"{body}.0.bias", (16,))]
        expected += batchnorm(f"{body}.1", 16)
        expected += [(f"{body}.3.weight", (16, 16, 3, 3)), (f"{body}.3.bias", (16,))]
        expected += batchnorm(f"{body}.4", 16)
    expected += [("5.weight", (10, 16)), ("5.bias", (10,))]
    assert shapes(net) == expected
    assert net.infer_shape(net.input_shape) == ("batch", 10)


def test_resnet_example_repeat_copies_have_their_own_parameters():
    net = build_cell(RESNET)

    params = net.collect_params()
    assert params["3.0.0.0.weight"] is not params["3.1.0.0.weight"]


def test_resnet_example_forward_pass_agrees_with_inferred_shapes():
    net = build_cell(RESNET)
    inferred = shapes(net)

    net.initialize(seed=0)
    out = net(np.ones((2, 3, 32, 32), dtype=np.float32))

    assert out.shape == (2, 10)
    assert shapes(net) == inferred


def shortcut_expected(prefix: str) -> list[tuple[str, tuple[int, ...]]]:
    expected = [(f"{prefix}.0.weight", (128, 64, 3, 3)), (f"{prefix}.0.bias", (128,))]
    expected += batchnorm(f"{prefix}.1", 128)
    expected += [(f"{prefix}.3.weight", (128, 128, 3, 3)), (f"{prefix}.3.bias", (128,))]
    expected += batchnorm(f"{prefix}.4", 128)
    expected += [
        (f"{prefix}.shortcut.0.weight", (128, 64, 1, 1)),
        (f"{prefix}.shortcut.0.bias", (128,)),
    ]
    return expected


def test_shortcut_example_puts_shortcut_layers_under_shortcut():
    net = build_cell(SHORTCUT)

    body = out_size(out_size(56, kernel=3, stride=2, padding=1), kernel=3, padding=1)
    side = out_size(56, kernel=1, stride=2)
    assert body == side == 28
    assert shapes(net) == shortcut_expected("0")
    assert net.infer_shape(net.input_shape) == ("batch", 128, side, side)


def test_shortcut_example_as_fourth_layer_is_named_3_shortcut_0():
    stem = "conv2d 64 kernel=3 padding=1\nbatchnorm\nrelu\n"
    first, rest = SHORTCUT.split("\n", 1)
    net = build_cell(f"{first}\n{stem}{rest}")

    params = net.collect_params()
    assert params["3.shortcut.0.weight"].shape == (128, 64, 1, 1)
    assert shapes(net)[6:] == shortcut_expected("3")
    assert net.infer_shape(net.input_shape) == ("batch", 128, 28, 28)


def test_shortcut_example_forward_pass_agrees_with_inferred_shapes():
    net = build_cell(SHORTCUT)
    inferred = shapes(net)

    net.initialize(seed=0)
    out = net(np.ones((1, 64, 56, 56), dtype=np.float32))

    assert out.shape == (1, 128, 28, 28)
    assert shapes(net) == inferred


def test_embedding_example_with_hidden_8_ties_shared_parameters():
    hidden = 8
    net = build_cell(EMBEDDING, {"hidden": hidden})

    tokens, vector = 12, 64  # input (batch, 12); embedding 1000 64
    assert shapes(net) == [
        ("0.weight", (1000, vector)),
        ("2.weight", (hidden, tokens * vector)),
        ("2.bias", (hidden,)),
        ("shared.weight", (8, hidden)),
        ("shared.bias", (8,)),
        # layer 4 ties 'shared': its parameters appear once, under the first name
        ("5.weight", (1, 8)),
        ("5.bias", (1,)),
    ]
    assert net[4].weight is net["shared"].weight
    assert net[4].bias is net["shared"].bias
    assert net.infer_shape(net.input_shape) == ("batch", 1)


def test_embedding_example_forward_pass_agrees_with_inferred_shapes():
    net = build_cell(EMBEDDING, {"hidden": 8})
    inferred = shapes(net)

    net.initialize(seed=0)
    ids = np.arange(2 * 12).reshape(2, 12) * 37 % 1000
    out = net(ids)

    assert out.shape == (2, 1)
    assert shapes(net) == inferred


def test_embedding_example_with_hidden_16_names_both_tied_layers():
    # 'shared' receives {hidden} = 16 features, its tied copy (layer 4) receives
    # the 8 that 'shared' outputs: one weight cannot be (8, 16) and (8, 8).
    with pytest.raises(ShapeError) as caught:
        build_cell(EMBEDDING, {"hidden": 16})

    message = str(caught.value)
    assert re.search(r"layer 'shared'.*layer '4'", message, re.DOTALL)
    assert "(8, 16)" in message and "(8, 8)" in message
