"""The memory guard: bytes are added up before anything is allocated."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from lazymagic import MemoryLimitError, nn, options
from lazymagic.engine import memory

MiB = 1 << 20


@pytest.fixture(autouse=True)
def restore_options():
    saved = (options.max_param_bytes, options.max_param_fraction)
    yield
    options.max_param_bytes, options.max_param_fraction = saved


def states(net: nn.Block) -> dict[str, tuple]:
    return {n: (p.state, p.shape, p._data) for n, p in net.collect_params().items()}


def mib(n: int) -> str:
    return f"{n / MiB:.1f} MiB"


def test_default_limit_is_a_fraction_of_available_memory(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)
    options.max_param_bytes = None

    assert options.max_param_fraction == 0.5
    assert memory.limit() == 5_000
    options.max_param_fraction = 0.25
    assert memory.limit() == 2_500
    options.max_param_bytes = 123
    assert memory.limit() == 123


def test_default_limit_refuses_what_half_the_memory_cannot_hold(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 4 * 100 * 100 - 8)
    net = nn.Sequential(nn.Dense(100, in_units=100, use_bias=False))

    with pytest.raises(MemoryLimitError):
        net.initialize()  # 40,000 bytes against a limit of 39,996

    assert net[0].weight.state == "declared"


def test_initialize_over_the_limit_allocates_nothing():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Dense(1000, in_units=1000), nn.Dense(10))
    before = states(net)

    tracemalloc.start()
    try:
        with pytest.raises(MemoryLimitError) as caught:
            net.initialize(seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 200_000  # the weight alone would be 4,000,000 bytes
    assert states(net) == before
    assert all(p._data is None for p in net.collect_params().values())
    message = str(caught.value)
    weight_bytes = 1000 * 1000 * 4
    total = weight_bytes + 1000 * 4 + 10 * 4  # the weight and both known biases
    assert f"would allocate {mib(total)}" in message
    assert "limit of 1.0 MiB" in message
    assert f"'0.weight' with shape (1000, 1000) ({mib(weight_bytes)})" in message
    assert "lazymagic.options.max_param_bytes" in message


def test_limit_applies_to_the_sum_not_to_each_parameter():
    layer_bytes = 4 * 50 * 20
    options.max_param_bytes = layer_bytes + 100  # each weight fits, both do not
    net = nn.Sequential(
        nn.Dense(50, in_units=20, use_bias=False),
        nn.Dense(20, in_units=50, use_bias=False),
    )

    with pytest.raises(MemoryLimitError):
        net.initialize()
    options.max_param_bytes = 2 * layer_bytes  # the limit itself is allowed
    net.initialize()

    assert [p.state for p in net.collect_params().values()] == ["materialized"] * 2


def test_forward_pass_over_the_limit_names_the_flatten_as_likely_cause():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Conv2D(8, 3, padding=1), nn.Flatten(), nn.Dense(256))
    net.initialize(seed=0)
    x = np.ones((1, 3, 64, 64), np.float32)
    before = states(net)

    tracemalloc.start()
    try:
        with pytest.raises(MemoryLimitError) as caught:
            net(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    features = 8 * 64 * 64
    weight_bytes = 256 * features * 4
    message = str(caught.value)
    assert f"'2.weight' with shape (256, {features}) ({mib(weight_bytes)})" in message
    assert f"after a flatten of (8, 64, 64) = {features:,} features" in message
    assert "pool or stride before flattening" in message
    assert peak < 500_000
    assert states(net) == before


def test_dense_that_flattens_its_own_input_names_the_same_cause():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Dense(100))
    net.initialize()

    with pytest.raises(MemoryLimitError, match=r"flatten of \(4, 50, 50\) = 10,000"):
        net(np.ones((1, 4, 50, 50), np.float32))


def test_cause_is_not_kept_from_an_earlier_flattened_input():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Dense(100))
    net.initialize()
    with pytest.raises(MemoryLimitError, match="flatten"):
        net(np.ones((1, 4, 50, 50), np.float32))

    with pytest.raises(MemoryLimitError) as caught:
        net(np.ones((1, 10_000), np.float32))

    assert "after a flatten" not in str(caught.value)


def test_infer_shape_on_a_declared_net_over_the_limit_shows_the_sizes():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Conv2D(8, 3, padding=1), nn.Flatten(), nn.Dense(256))

    assert net.infer_shape(("batch", 3, 64, 64)) == ("batch", 256)

    weight = net[2].weight
    assert weight.shape == (256, 8 * 64 * 64) and weight.state == "declared"
    assert weight._data is None
    assert weight.nbytes == 256 * 8 * 64 * 64 * 4
    row = next(
        line
        for line in str(net.collect_params()).splitlines()
        if line.startswith("2.weight")
    )
    assert "(256, 32768)" in row and "8,388,608" in row and "32.0 MiB" in row


def test_infer_shape_on_a_pending_net_over_the_limit_refuses_and_changes_nothing():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Conv2D(8, 3, padding=1), nn.Flatten(), nn.Dense(256))
    net.initialize()
    before = states(net)

    with pytest.raises(MemoryLimitError) as caught:
        net.infer_shape(("batch", 3, 64, 64))

    assert states(net) == before
    message = str(caught.value)
    assert "'2.weight'" in message
    assert "infer_shape materializes pending parameters" in message
    assert "before initialize()" in message


def test_net_under_the_limit_materializes():
    options.max_param_bytes = 1 * MiB
    net = nn.Sequential(nn.Dense(16), nn.Dense(4))
    net.initialize()

    assert net(np.ones((2, 8), np.float32)).shape == (2, 4)


@pytest.mark.parametrize("bad", [-1, 1.5, "1GB", True])
def test_limit_setting_rejects_what_is_not_a_byte_count(bad):
    with pytest.raises(ValueError, match="max_param_bytes"):
        options.max_param_bytes = bad
