"""Bad inputs through the Python API: each gives a clear error and changes nothing.

Every row names the error class and the message parts it must contain: what
happened, where (the layer or parameter), and what to do next. For every row the
net's parameters are compared before and after, and the error must be raised by
lazymagic itself, never from inside NumPy.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import lazymagic
from lazymagic import (
    DeferredInitializationError,
    LazyMagicError,
    ShapeError,
    init,
    nn,
)

PACKAGE = os.path.dirname(lazymagic.__file__)


def ones(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


def initialized(*blocks: nn.Block, seed: int = 0) -> nn.Sequential:
    net = nn.Sequential(*blocks)
    net.initialize(seed=seed)
    return net


def after(net: nn.Sequential, *batches: np.ndarray) -> nn.Sequential:
    """The net after it has seen these batches (so it is materialized)."""
    for x in batches:
        net(x)
    return net


def data_of(name: str) -> Callable[[nn.Block], object]:
    return lambda net: net.collect_params()[name].data()


@dataclass
class Case:
    id: str
    build: Callable[[], nn.Block]
    act: Callable[[nn.Block], object]
    error: type[BaseException]
    parts: tuple[str, ...]


CASES = [
    Case(
        "declared-in-units-fed-other-size",
        lambda: nn.Sequential(nn.Dense(16, in_units=20), nn.Dense(3)),
        lambda net: net.infer_shape((4, 30)),
        ShapeError,
        (
            r"layer '0' \(dense 16\)",
            r"declared for 20 input features; this batch has 30",
            r"No parameter was changed\. Pass inputs with 20 features",
        ),
    ),
    Case(
        "initialized-in-units-fed-other-size",
        lambda: initialized(nn.Dense(16, in_units=20), nn.Dense(3)),
        lambda net: net(ones(4, 30)),
        ShapeError,
        (
            r"layer '0' \(dense 16\)",
            r"materialized for 20 input features; this batch has 30",
            r"Pass inputs with 20 features, or declare a new net",
        ),
    ),
    Case(
        "materialized-net-fed-other-size",
        lambda: after(initialized(nn.Dense(8), nn.Dense(3)), ones(2, 20)),
        lambda net: net(ones(2, 30)),
        ShapeError,
        (
            r"layer '0' \(dense 8\)",
            r"materialized for 20 input features; this batch has 30 "
            r"\(shape \(2, 30\)\)",
            r"Pass inputs with 20 features",
        ),
    ),
    Case(
        "image-size-changed-before-flatten-layer",
        lambda: after(
            initialized(nn.Conv2D(4, 3), nn.Flatten(), nn.Dense(5)), ones(2, 1, 8, 8)
        ),
        lambda net: net(ones(2, 1, 10, 10)),
        ShapeError,
        (
            # 8x8 input -> conv 3 -> 4x6x6 = 144; 10x10 -> 4x8x8 = 256
            r"layer '2' \(dense 5\) was materialized for 144 input features; this "
            r"batch has 256",
            r"flattened from \(4, 8, 8\)",
            r"image or sequence size changed",
            r"Pass inputs with 144 features",
        ),
    ),
    Case(
        "image-size-changed-dense-flattens-itself",
        lambda: after(initialized(nn.Dense(5)), ones(2, 3, 4, 4)),
        lambda net: net(ones(2, 3, 5, 5)),
        ShapeError,
        (
            r"materialized for 48 input features; this batch has 75",
            r"flattened from \(3, 5, 5\)",
            r"image or sequence size changed",
        ),
    ),
    Case(
        "one-dimensional-input-to-dense",
        lambda: initialized(nn.Dense(4)),
        lambda net: net(ones(7)),
        ShapeError,
        (
            r"layer '0' \(dense 4\) expects a batch",
            r"shape \(7,\)",
            r"reshape\(1, -1\)",
        ),
    ),
    Case(
        "scalar-input",
        lambda: initialized(nn.Dense(4)),
        lambda net: net(3.0),
        ShapeError,
        (r"single number", r"reshape\(1, -1\)"),
    ),
    Case(
        "kernel-larger-than-padded-input",
        lambda: initialized(nn.Conv2D(4, 7, padding=1)),
        lambda net: net(ones(1, 1, 4, 4)),
        ShapeError,
        (
            r"layer '0' \(conv2d 4 kernel=7\)",
            # floor((4 + 2 - 6 - 1) / 1) + 1 = 0
            r"output of height 0 from an input of height 4",
            r"smaller kernel",
        ),
    ),
    Case(
        "pool-reduces-map-to-zero",
        lambda: initialized(nn.Conv2D(2, 3), nn.MaxPool2D(4)),
        lambda net: net(ones(1, 1, 5, 5)),
        ShapeError,
        (
            r"layer '1' \(maxpool2d kernel=4\)",
            # 5 -> conv 3 -> 3; floor((3 - 4) / 4) + 1 = 0
            r"output of height 0 from an input of height 3",
            r"No parameter was changed",
        ),
    ),
    Case(
        "residual-branch-changes-channels",
        lambda: initialized(nn.Residual(nn.Conv2D(8, 3, padding=1))),
        lambda net: net(ones(1, 4, 5, 5)),
        ShapeError,
        (
            r"residual block '0' changes the shape from \(1, 4, 5, 5\) to "
            r"\(1, 8, 5, 5\)",
            r"No parameter was changed\. Add a shortcut",
        ),
    ),
    Case(
        "embedding-index-too-large",
        lambda: initialized(nn.Embedding(10, 3), nn.Flatten(), nn.Dense(2)),
        lambda net: net(np.array([[1, 2], [3, 10]])),
        ShapeError,
        (
            r"layer '0' \(embedding 10 3\) received index 10 at position \(1, 1\)",
            r"indices 0 to 9",
            r"No parameter was changed\. Map unknown tokens",
        ),
    ),
    Case(
        "embedding-index-negative",
        lambda: initialized(nn.Embedding(10, 3), nn.Flatten(), nn.Dense(2)),
        lambda net: net(np.array([[1, -1], [3, 4]])),
        ShapeError,
        (r"layer '0' \(embedding 10 3\) received index -1", r"indices 0 to 9"),
    ),
    Case(
        "embedding-fractional-index",
        lambda: initialized(nn.Embedding(10, 3)),
        lambda net: net(np.array([[1.5, 2.0]])),
        ShapeError,
        (r"layer '0' \(embedding 10 3\)", r"not whole numbers", r"astype"),
    ),
    Case(
        "zero-features-reach-xavier",
        lambda: initialized(nn.Dense(4, weight_initializer=init.Xavier())),
        lambda net: net(ones(4, 0)),
        ShapeError,
        (r"layer '0' \(dense 4\)", r"zero features", r"check the input"),
    ),
    Case(
        "zero-channels-reach-kaiming",
        lambda: initialized(nn.Conv2D(2, 3, weight_initializer="kaiming")),
        lambda net: net(ones(2, 0, 5, 5)),
        ShapeError,
        (r"layer '0' \(conv2d 2 kernel=3\)", r"zero channels", r"check the input"),
    ),
    Case(
        "empty-batch-in-batchnorm-training",
        lambda: initialized(nn.Dense(4), nn.BatchNorm()),
        lambda net: net(ones(0, 3), training=True),
        ShapeError,
        (r"layer '1' \(batchnorm\)", r"empty batch", r"training=False"),
    ),
    Case(
        "data-of-declared-parameter",
        lambda: nn.Sequential(nn.Dense(4), nn.Dense(2)),
        data_of("0.weight"),
        DeferredInitializationError,
        (
            r"parameter '0.weight' has shape \(4, \?\)",
            r"never initialized",
            r"net\.initialize\(\)",
        ),
    ),
    Case(
        "data-of-declared-parameter-with-known-shape",
        lambda: nn.Sequential(nn.Dense(4), nn.Dense(2)),
        data_of("1.bias"),
        DeferredInitializationError,
        (
            r"parameter '1.bias' has shape \(2,\)",
            r"never initialized",
            r"net\.initialize\(\)",
        ),
    ),
    Case(
        "data-of-pending-parameter",
        lambda: initialized(nn.Dense(4), nn.Dense(2)),
        data_of("1.weight"),
        DeferredInitializationError,
        (
            r"parameter '1.weight' has shape \(2, \?\)",
            r"Pass a batch through the net \(net\(X\)\)",
            r"net\.infer_shape",
            r"in_units=20",
        ),
    ),
    Case(
        "data-of-pending-convolution",
        lambda: initialized(nn.Conv2D(4, 3)),
        data_of("0.weight"),
        DeferredInitializationError,
        (r"parameter '0.weight' has shape \(4, \?, 3, 3\)", r"in_channels=3"),
    ),
    Case(
        "forward-through-never-initialized-net",
        lambda: nn.Sequential(nn.Dense(4), nn.Dense(2)),
        lambda net: net(ones(2, 3)),
        DeferredInitializationError,
        (r"never initialized", r"'0.weight'", r"Call net\.initialize\(\)"),
    ),
    Case(
        "text-input",
        lambda: initialized(nn.Dense(4)),
        lambda net: net(np.array([["a", "b"], ["c", "d"]])),
        TypeError,
        (r"the input holds <U1 values; a net takes numbers", r"astype\(np\.float32\)"),
    ),
    Case(
        "complex-input",
        lambda: initialized(nn.Dense(4)),
        lambda net: net(np.ones((2, 3), np.complex64)),
        TypeError,
        (r"complex64", r"numeric NumPy array"),
    ),
    Case(
        "ragged-list",
        lambda: initialized(nn.Dense(4)),
        lambda net: net([[1.0, 2.0, 3.0], [4.0, 5.0]]),
        ShapeError,
        (r"the input could not become an array", r"rows have equal length"),
    ),
    Case(
        "convolution-given-flat-input",
        lambda: initialized(nn.Conv2D(4, 3)),
        lambda net: net(ones(2, 25)),
        ShapeError,
        (r"layer '0' \(conv2d 4 kernel=3\) expects a 4-D input", r"X\[:, None\]"),
    ),
    Case(
        "tied-layers-fed-different-sizes",
        lambda: (lambda a: initialized(a, nn.Dense(8, share=a)))(
            nn.Dense(8, label="a")
        ),
        lambda net: net(ones(2, 5)),
        ShapeError,
        (
            r"layer 'a' \(dense 8\) and layer '1' \(dense 8\) share parameter "
            r"'a.weight'",
            r"\(8, 5\)",
            r"\(8, 8\)",
            r"same size",
        ),
    ),
    Case(
        "masked-array-input",
        lambda: initialized(nn.Dense(4)),
        lambda net: net(np.ma.masked_less(np.arange(6.0).reshape(2, 3), 2)),
        LazyMagicError,
        (r"the input is a masked array", r"x\.filled\(value\)"),
    ),
    Case(
        "pending-net-cast-to-half-precision",
        lambda: initialized(nn.Dense(4)),
        lambda net: net.cast("float16"),
        LazyMagicError,
        (r"parameters are float32 or float64, not 'float16'", r"Use float32"),
    ),
    Case(
        # A broadcast view costs nothing; the convolution's output would need
        # terabytes, which NumPy refuses at once.
        "convolution-output-larger-than-memory",
        lambda: initialized(nn.Dense(2), nn.Conv2D(2, 3)),
        lambda net: net[1](
            np.broadcast_to(np.float32(1), (1, 1, 1_000_000, 1_000_000))
        ),
        MemoryError,
        (
            r"layer '1' \(conv2d 2 kernel=3\) ran out of memory",
            r"\(1, 1, 1000000, 1000000\)",
            r"Unable to allocate",
            r"No parameter was changed\. Pass a smaller batch",
        ),
    ),
    Case(
        "convolution-inside-a-net-runs-out-of-memory",
        lambda: initialized(nn.Conv2D(2, 3), nn.Flatten()),
        lambda net: net(np.broadcast_to(np.float32(1), (1, 1, 1_000_000, 1_000_000))),
        MemoryError,
        (r"layer '0' \(conv2d 2 kernel=3\) ran out of memory", r"smaller batch"),
    ),
    Case(
        "image-of-height-zero",
        lambda: initialized(nn.Conv2D(4, 3)),
        lambda net: net(ones(2, 1, 0, 5)),
        ShapeError,
        (
            r"layer '0' \(conv2d 4 kernel=3\) received an input of height 0",
            r"\(2, 1, 0, 5\)",
            r"at least one value along each spatial axis",
        ),
    ),
    Case(
        # Padding alone would make windows; they must not turn into values.
        "padded-pool-on-height-zero",
        lambda: nn.Sequential(nn.MaxPool2D(2, padding=1)),
        lambda net: net(ones(1, 1, 0, 4)),
        ShapeError,
        (r"layer '0' \(maxpool2d kernel=2\) received an input of height 0",),
    ),
    Case(
        "padded-convolution-infers-on-width-zero",
        lambda: nn.Sequential(nn.Conv1D(2, 1, padding=1)),
        lambda net: net.infer_shape(("batch", 3, 0)),
        ShapeError,
        (r"received an input of width 0", r"at least one value"),
    ),
    Case(
        "global-average-of-nothing",
        lambda: nn.Sequential(nn.GlobalAvgPool()),
        lambda net: net(ones(2, 1, 0, 5)),
        ShapeError,
        (r"spatial size of 0", r"nothing to average"),
    ),
    Case(
        # Past the address space NumPy raises ValueError("array is too big").
        "convolution-output-beyond-the-address-space",
        # float32 in, float64 net: converting the input is what cannot be done.
        lambda: (lambda net: (net.cast("float64"), net)[1])(
            initialized(nn.Conv2D(2, 1))
        ),
        lambda net: net(np.broadcast_to(np.float32(1), (1, 1, 15 * 10**8, 15 * 10**8))),
        MemoryError,
        (r"layer '0' \(conv2d 2 kernel=1\) ran out of memory", r"array is too big"),
    ),
    Case(
        "negative-dimension-in-infer-shape",
        lambda: nn.Sequential(nn.Dense(4)),
        lambda net: net.infer_shape(("batch", -3)),
        ShapeError,
        (r"negative dimension -3", r"None"),
    ),
]


def snapshot(net: nn.Block) -> dict[str, tuple]:
    out = {}
    for name, p in net.collect_params().items():
        values = None if p._data is None else p._data.copy()
        out[name] = (p.state, p.shape, p._data, values, p.seed, p.init)
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_a_clear_error_and_changes_nothing(case: Case):
    net = case.build()
    before = snapshot(net)

    with pytest.raises(case.error) as caught:
        case.act(net)

    if case.error is not TypeError:  # a wrong kind of input stays a TypeError
        assert isinstance(caught.value, LazyMagicError)
    message = str(caught.value)
    for part in case.parts:
        assert re.search(part, message, re.DOTALL), (part, message)
    # Raised by lazymagic on purpose, not by NumPy or Python inside a computation.
    raised_in = str(caught.traceback[-1].path)
    assert raised_in.startswith(PACKAGE), raised_in
    after = snapshot(net)
    assert list(after) == list(before)
    for name, (state, shape, data, values, seed, chosen) in before.items():
        now_state, now_shape, now_data, _, now_seed, now_init = after[name]
        assert now_state is state and now_shape == shape, name
        assert now_data is data, name
        if values is not None:
            np.testing.assert_array_equal(now_data, values)
        assert now_seed == seed and now_init is chosen, name


@pytest.mark.parametrize("initialize", [False, True], ids=["declared", "pending"])
def test_batch_of_zero_rows_infers_features_and_returns_empty_output(initialize):
    net = nn.Sequential(nn.Dense(8, activation="relu"), nn.Dense(3))
    if initialize:
        net.initialize(seed=0)
        out = net(np.ones((0, 20), np.float32))
        assert out.shape == (0, 3) and out.dtype == np.float32
        assert all(p.state == "materialized" for p in net.collect_params().values())
    else:
        assert net.infer_shape((0, 20)) == (0, 3)
    assert net[0].weight.shape == (8, 20) and net[1].weight.shape == (3, 8)


def test_batch_of_zero_images_through_a_cnn_returns_empty_output():
    net = initialized(
        nn.Conv2D(4, 3, padding=1),
        nn.BatchNorm(),
        nn.MaxPool2D(2),
        nn.Flatten(),
        nn.Dense(5),
    )

    out = net(np.ones((0, 2, 6, 6), np.float32))

    assert out.shape == (0, 5)
    assert net[4].weight.shape == (5, 4 * 3 * 3)
