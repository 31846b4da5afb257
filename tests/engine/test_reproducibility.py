"""Seeded values depend only on the seed and the dotted name.

Not on how many threads fill the chunks, how large the blocks are that the
initializers draw and scale at a time, or the order in which parameters
materialize. The expected values are rebuilt here from the documented recipe:
chunk ``i`` of a parameter comes from its own PCG64 stream keyed by the seed, the
dotted name's blake2b digest and ``i``.
"""

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lazymagic import init, nn
from lazymagic import init as init_module
from lazymagic.engine.parameter import CHUNK_SIZE, Parameter

# Two and a half chunks: the threads and the blocks have something to split.
SHAPE = (5, CHUNK_SIZE // 2)

SEQUENTIAL_DRAWS = [
    init.Uniform(0.3),
    init.Normal(0.5),
    init.XavierUniform(),
    init.XavierNormal(),
    init.KaimingUniform(),
    init.KaimingNormal(),
]


def stream(seed: int, name: str, chunk: int) -> np.random.Generator:
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    words = (int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little"))
    key = np.random.SeedSequence(seed, spawn_key=(*words, chunk))
    return np.random.Generator(np.random.PCG64(key))


def expected_values(
    kind: str, low_or_std: float, high: float, seed: int, name: str, size: int
) -> np.ndarray:
    """The recipe written out: one stream per chunk, drawn whole, then scaled."""
    out = np.empty(size, np.float32)
    for index, start in enumerate(range(0, size, CHUNK_SIZE)):
        n = min(CHUNK_SIZE, size - start)
        rng = stream(seed, name, index)
        if kind == "uniform":
            values = rng.random(n, dtype=np.float32)
            values *= np.float32(high - low_or_std)
            values += np.float32(low_or_std)
        else:
            values = rng.standard_normal(n, dtype=np.float32)
            values *= np.float32(low_or_std)
        out[start : start + n] = values
    return out


def materialized(initializer: init.Initializer, seed: int, name: str) -> np.ndarray:
    param = Parameter(name, SHAPE)
    param.init, param.seed = initializer, seed
    param.materialize()
    return param.data()


@pytest.fixture
def fill_settings(monkeypatch):
    def apply(threads: int | None, block: int) -> None:
        monkeypatch.setattr(init_module, "_FILL_THREADS", threads)
        monkeypatch.setattr(init_module, "_FILL_BLOCK", block)

    return apply


def test_uniform_values_follow_the_per_chunk_stream_recipe():
    values = materialized(init.Uniform(0.07), seed=7, name="3.weight")
    expected = expected_values("uniform", -0.07, 0.07, 7, "3.weight", values.size)
    np.testing.assert_array_equal(values.reshape(-1), expected)


def test_xavier_normal_values_follow_the_per_chunk_stream_recipe():
    values = materialized(init.XavierNormal(), seed=11, name="fc1.weight")
    std = np.sqrt(2.0 / (SHAPE[0] + SHAPE[1]))
    expected = expected_values("normal", std, 0.0, 11, "fc1.weight", values.size)
    np.testing.assert_array_equal(values.reshape(-1), expected)


@pytest.mark.parametrize("initializer", SEQUENTIAL_DRAWS, ids=repr)
@pytest.mark.parametrize("threads", [1, 2, 5])
def test_values_do_not_depend_on_the_number_of_threads(
    initializer, threads, fill_settings
):
    fill_settings(1, init_module._FILL_BLOCK)
    alone = materialized(initializer, seed=3, name="0.weight")
    fill_settings(threads, init_module._FILL_BLOCK)
    np.testing.assert_array_equal(
        materialized(initializer, seed=3, name="0.weight"), alone
    )


@settings(max_examples=10, deadline=None, database=None)
@given(
    index=st.integers(0, len(SEQUENTIAL_DRAWS) - 1),
    block=st.integers(1_000, 2 * CHUNK_SIZE),
    threads=st.integers(1, 4),
)
def test_values_do_not_depend_on_block_size_or_threads(index, block, threads):
    initializer = SEQUENTIAL_DRAWS[index]
    saved = init_module._FILL_THREADS, init_module._FILL_BLOCK
    try:
        init_module._FILL_THREADS, init_module._FILL_BLOCK = 1, CHUNK_SIZE
        whole_chunks = materialized(initializer, seed=5, name="net.2.weight")
        init_module._FILL_THREADS, init_module._FILL_BLOCK = threads, block
        np.testing.assert_array_equal(
            materialized(initializer, seed=5, name="net.2.weight"), whole_chunks
        )
    finally:
        init_module._FILL_THREADS, init_module._FILL_BLOCK = saved


@pytest.mark.parametrize("threads", [1, 3])
def test_truncated_normal_does_not_depend_on_the_number_of_threads(
    threads, fill_settings
):
    fill_settings(1, init_module._FILL_BLOCK)
    alone = materialized(init.TruncatedNormal(0.1), seed=9, name="w")
    fill_settings(threads, init_module._FILL_BLOCK)
    again = materialized(init.TruncatedNormal(0.1), seed=9, name="w")
    np.testing.assert_array_equal(again, alone)
    assert np.abs(again).max() <= 0.2 + 1e-7


def test_values_do_not_depend_on_the_order_of_materialization():
    def net() -> nn.Sequential:
        return nn.Sequential(nn.Dense(8, label="a"), nn.Dense(CHUNK_SIZE // 8))

    first = net()
    first.initialize(init.XavierNormal(), seed=21)
    first(np.ones((1, CHUNK_SIZE // 4), np.float32))  # both at the first batch
    # The second net materializes the layers one at a time, the last one first.
    second = net()
    second[1].weight.set_data(np.zeros((CHUNK_SIZE // 8, 8), np.float32))
    second.initialize(init.XavierNormal(), seed=21, force_reinit=True)
    assert second[1].weight.state == "materialized"
    assert second[0].weight.state == "pending"
    second.infer_shape((1, CHUNK_SIZE // 4))
    for name in ("a.weight", "1.weight"):
        np.testing.assert_array_equal(
            first.collect_params()[name].data(), second.collect_params()[name].data()
        )


class _Failing(init.Uniform):
    """Fails on the third chunk, wherever that chunk is drawn."""

    def _fill_chunk(self, chunk, rng, spec):
        if chunk.base is not None and chunk.size and _chunk_index(chunk) == 2:
            raise RuntimeError("chunk 2 could not be drawn")
        super()._fill_chunk(chunk, rng, spec)


def _chunk_index(chunk: np.ndarray) -> int:
    start = chunk.__array_interface__["data"][0]
    origin = chunk.base.__array_interface__["data"][0]
    return (start - origin) // (CHUNK_SIZE * chunk.itemsize)


@pytest.mark.parametrize("threads", [1, 2])
def test_an_error_in_a_chunk_reaches_the_caller_and_changes_nothing(
    threads, fill_settings
):
    fill_settings(threads, init_module._FILL_BLOCK)
    net = nn.Sequential(nn.Dense(SHAPE[1], weight_initializer=_Failing()))
    net.initialize(seed=0)
    with pytest.raises(RuntimeError, match="chunk 2"):
        net(np.ones((1, SHAPE[0]), np.float32))
    assert net[0].weight.state == "pending"
    assert net[0].weight.shape == (SHAPE[1], None)


def conv2d_by_loops(x, w, b, stride, padding, dilation):
    """The definition, one output value at a time."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * padding[0], wd + 2 * padding[1]), np.float64)
    xp[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + wd] = x
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for e in range(kw):
                    r = i * stride[0] + a * dilation[0]
                    s = j * stride[1] + e * dilation[1]
                    y[:, :, i, j] += xp[:, :, r, s] @ w[:, :, a, e].T
    return y + b[None, :, None, None]


@pytest.mark.parametrize("column_bytes", [1, 5_000, 1 << 40])
def test_convolutions_built_in_blocks_match_the_definition(column_bytes, monkeypatch):
    # column_bytes=1 builds one example's columns at a time; 1 << 40 all at once.
    from lazymagic.nn import conv

    monkeypatch.setattr(conv, "COLUMN_BYTES", column_bytes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 9, 8)).astype(np.float32)
    first = nn.Conv2D(4, (3, 2), strides=(2, 1), padding=1, dilation=(1, 2))
    second = nn.Conv2D(2, 2, bias_initializer=init.Normal(1.0))
    net = nn.Sequential(first, second)
    net.initialize(init.Normal(0.5), seed=1)
    out = net(x)  # the second convolution reads the first's channels-first view
    w1, b1 = first.weight.data(), first.bias.data()
    w2, b2 = second.weight.data(), second.bias.data()
    middle = conv2d_by_loops(x, w1, b1, (2, 1), (1, 1), (1, 2))
    expected = conv2d_by_loops(middle, w2, b2, (1, 1), (0, 0), (1, 1))
    assert out.shape == expected.shape == (5, 2, 4, 7)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
