"""All-or-nothing materialization, initializing twice, and copies of nets."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest

from lazymagic import (
    DeferredInitializationError,
    LazyMagicWarning,
    ShapeError,
    init,
    nn,
)
from lazymagic.engine.block import Context
from lazymagic.engine.parameter import Parameter


def snapshot(net: nn.Block) -> dict[str, tuple]:
    """Everything a failed call must leave alone, per dotted name."""
    out = {}
    for name, p in net.collect_params().items():
        values = None if p._data is None else p._data.copy()
        out[name] = (p, p.state, p.shape, p._data, values, p.seed, p.init)
    return out


def assert_unchanged(net: nn.Block, before: dict[str, tuple]) -> None:
    after = net.collect_params()
    assert list(after) == list(before)
    for name, (param, state, shape, data, values, seed, chosen) in before.items():
        p = after[name]
        assert p is param, name
        assert p.state is state, name
        assert p.shape == shape, name
        assert p._data is data, name  # the same array object...
        if values is not None:
            np.testing.assert_array_equal(p._data, values)  # ...with the same values
        assert p.seed == seed, name
        assert p.init is chosen, name


def half_materialized_net() -> nn.Sequential:
    """A first layer materialized at initialize(), the rest pending."""
    net = nn.Sequential(
        nn.Dense(8, activation="relu", in_units=5),
        nn.BatchNorm(),
        nn.Dense(4),
        nn.Dense(3),
    )
    net.initialize(seed=7)
    return net


def uniform_values(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The values a parameter gets from Uniform(0.07), from a net built afresh."""
    p = Parameter(name, shape)
    p.init, p.seed = init.Uniform(), seed
    p.materialize()
    return p._data


# -- failures leave everything as it was -----------------------------------------------


def test_late_layer_shape_error_leaves_every_parameter_unchanged():
    net = half_materialized_net()
    net.add(nn.MaxPool2D(2))  # needs a 4-D input; the dense output is 2-D
    before = snapshot(net)

    with pytest.raises(ShapeError, match=r"layer '4' \(maxpool2d kernel=2\)"):
        net(np.ones((2, 5), np.float32))

    assert_unchanged(net, before)
    assert net[2].weight.state == "pending" and net[2].weight.shape == (4, None)


def test_late_layer_shape_error_in_infer_shape_changes_no_shape():
    net = nn.Sequential(nn.Dense(8), nn.Dense(4), nn.Conv2D(2, 3))
    before = snapshot(net)

    with pytest.raises(ShapeError, match=r"layer '2' \(conv2d 2 kernel=3\)"):
        net.infer_shape(("batch", 20))

    assert_unchanged(net, before)
    assert net[0].weight.shape == (8, None)


def test_embedding_index_out_of_range_during_compute_rolls_back(monkeypatch):
    net = nn.Sequential(nn.Embedding(10, 3), nn.Flatten(), nn.Dense(4))
    net.initialize(seed=1)
    before = snapshot(net)
    materialized = []
    original = Parameter.materialize

    def spy(self: Parameter) -> None:
        materialized.append(self.name)
        original(self)

    monkeypatch.setattr(Parameter, "materialize", spy)

    with pytest.raises(ShapeError, match=r"index 10 .* 0 to 9"):
        net(np.array([[1, 10], [2, 3]]))

    # The dense weight was allocated before the lookup failed, then undone.
    assert "2.weight" in materialized
    assert_unchanged(net, before)
    assert net[2].weight._data is None and net[2].weight.shape == (4, None)


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_error_raised_inside_a_forward_rolls_back_materialization(monkeypatch, error):
    net = half_materialized_net()
    before = snapshot(net)

    def explode(x, ctx):
        raise error

    monkeypatch.setattr(net[3], "_forward", explode)

    with pytest.raises(type(error)):
        net(np.ones((2, 5), np.float32))

    assert_unchanged(net, before)
    for name in ("1.gamma", "2.weight", "3.weight"):
        assert net.collect_params()[name].state == "pending"


def test_interrupted_training_pass_keeps_running_statistics(monkeypatch):
    net = half_materialized_net()
    net(np.ones((2, 5), np.float32))  # everything materialized
    before = snapshot(net)
    x = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)

    def interrupt(x, ctx):
        raise KeyboardInterrupt

    monkeypatch.setattr(net[3], "_forward", interrupt)
    with pytest.raises(KeyboardInterrupt):
        net(x, training=True)  # batch norm planned new running statistics

    assert_unchanged(net, before)


def test_interruption_during_deferred_writes_undoes_those_done():
    class Interrupting:
        def __array__(self, dtype=None, copy=None):
            raise KeyboardInterrupt

    first = np.zeros(3, np.float32)
    second = np.ones(3, np.float32)
    ctx = Context(training=True)
    ctx.defer_write(first, np.full(3, 5.0, np.float32))
    ctx.defer_write(second, Interrupting())

    with pytest.raises(KeyboardInterrupt):
        ctx.commit()

    np.testing.assert_array_equal(first, np.zeros(3))
    np.testing.assert_array_equal(second, np.ones(3))


def test_error_while_materializing_a_later_parameter_rolls_back_earlier_ones(
    monkeypatch,
):
    net = half_materialized_net()
    before = snapshot(net)
    original = Parameter.materialize

    def fail_on_last(self: Parameter) -> None:
        if self.name == "3.weight":
            raise MemoryError("simulated")
        original(self)

    monkeypatch.setattr(Parameter, "materialize", fail_on_last)
    with pytest.raises(MemoryError):
        net(np.ones((2, 5), np.float32))

    assert_unchanged(net, before)


def test_infer_shape_error_in_a_late_layer_leaves_pending_net_unchanged(monkeypatch):
    net = half_materialized_net()
    before = snapshot(net)

    def refuse(shape, plan):
        raise ShapeError("refused for the test")

    monkeypatch.setattr(net[3], "_infer", refuse)
    with pytest.raises(ShapeError, match="refused for the test"):
        net.infer_shape(("batch", 5))

    assert_unchanged(net, before)


def test_never_initialized_net_refuses_data_and_changes_nothing():
    net = nn.Sequential(nn.Dense(8), nn.Dense(3))
    before = snapshot(net)

    with pytest.raises(DeferredInitializationError, match=r"initialize\(\)"):
        net(np.ones((2, 5), np.float32))

    assert_unchanged(net, before)


def test_pass_after_a_failed_one_gives_the_values_of_a_fresh_net():
    net = half_materialized_net()
    with pytest.raises(ShapeError):
        net(np.ones((2, 6), np.float32))  # the first layer was declared for 5

    net(np.ones((2, 5), np.float32))

    # Seeded values depend only on the seed and the dotted name.
    np.testing.assert_array_equal(
        net[2].weight.data(), uniform_values(7, "2.weight", (4, 8))
    )
    np.testing.assert_array_equal(
        net[3].weight.data(), uniform_values(7, "3.weight", (3, 4))
    )


# -- parameters no path reached --------------------------------------------------------


class FirstChildOnly(nn.Sequential):
    """A block whose computation uses only its first child."""

    def _infer(self, shape, plan):
        return self._children[0]._infer(shape, plan)

    def _forward(self, x, ctx):
        return self._children[0]._forward(x, ctx)


def test_pass_warns_once_naming_each_unreached_parameter():
    net = FirstChildOnly(nn.Dense(3), nn.Dense(4), nn.BatchNorm())
    net.initialize(seed=0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = net(np.ones((2, 5), np.float32))

    assert out.shape == (2, 3)
    ours = [w for w in caught if issubclass(w.category, LazyMagicWarning)]
    assert len(ours) == 1
    text = str(ours[0].message)
    for name in ("1.weight", "2.gamma", "2.beta", "2.running_mean", "2.running_var"):
        assert f"'{name}'" in text
    assert "'1.bias'" not in text  # its shape was known, so it has values
    assert "'0.weight'" not in text
    assert ours[0].filename == __file__  # points at the caller's line


def test_pass_that_reaches_every_parameter_does_not_warn():
    net = nn.Sequential(nn.Dense(3), nn.Dense(4))
    net.initialize(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net(np.ones((2, 5), np.float32))


# -- initializing twice ----------------------------------------------------------------


def test_initialize_twice_keeps_values_and_warns_once_naming_them():
    net = nn.Sequential(nn.Dense(4, in_units=3), nn.Dense(2))
    net.initialize(seed=3)
    weight = net[0].weight._data
    values = weight.copy()

    with pytest.warns(LazyMagicWarning) as caught:
        net.initialize(init.Constant(5.0), seed=11)

    assert len(caught) == 1
    text = str(caught[0].message)
    assert "'0.weight'" in text and "'0.bias'" in text and "'1.bias'" in text
    assert "'1.weight'" not in text  # pending: it takes the new initializer
    assert "force_reinit=True" in text
    assert net[0].weight._data is weight
    np.testing.assert_array_equal(net[0].weight._data, values)


def test_force_reinit_redraws_at_once_with_the_same_seeds():
    net = nn.Sequential(nn.Dense(4, in_units=3), nn.Dense(2))
    net.initialize(seed=3)
    net[0].weight._data[...] = 0.0

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.initialize(force_reinit=True)

    assert net[0].weight.seed == 3
    np.testing.assert_array_equal(
        net[0].weight.data(), uniform_values(3, "0.weight", (4, 3))
    )


def test_force_reinit_with_another_initializer_draws_from_it():
    net = nn.Sequential(nn.Dense(4, in_units=3))
    net.initialize(seed=3)

    net.initialize(init.Constant(0.5), force_reinit=True)

    np.testing.assert_array_equal(net[0].weight.data(), np.full((4, 3), 0.5))
    np.testing.assert_array_equal(net[0].bias.data(), np.zeros(4))  # its own zeros


def test_pending_parameter_takes_the_new_initializer():
    net = nn.Sequential(nn.Dense(4, use_bias=False))
    net.initialize(init.Constant(1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing had values, so nothing is kept
        net.initialize(init.Constant(2.0))

    net(np.ones((1, 3), np.float32))

    np.testing.assert_array_equal(net[0].weight.data(), np.full((4, 3), 2.0))


# -- copies ----------------------------------------------------------------------------


def tied_net() -> nn.Sequential:
    shared = nn.Dense(6, activation="relu", label="shared")
    return nn.Sequential(nn.Dense(6), shared, nn.Dense(6, share=shared), nn.Dense(2))


@pytest.mark.parametrize(
    "duplicate",
    [copy.deepcopy, lambda net: pickle.loads(pickle.dumps(net))],
    ids=["deepcopy", "pickle"],
)
@pytest.mark.parametrize("initialized", [False, True], ids=["declared", "pending"])
def test_copy_of_a_lazy_net_is_independent_and_in_the_same_states(
    duplicate, initialized
):
    net = tied_net()
    if initialized:
        net.initialize(seed=5)
    before = snapshot(net)

    twin = duplicate(net)

    mine, theirs = net.collect_params(), twin.collect_params()
    assert list(theirs) == list(mine)
    for name, p in theirs.items():
        assert p is not mine[name]
        assert (p.state, p.shape, p.seed) == (
            mine[name].state,
            mine[name].shape,
            mine[name].seed,
        )
    assert twin[2].weight is twin[1].weight  # the tie survives inside the copy
    if not initialized:
        twin.initialize(seed=5)
    twin(np.ones((2, 3), np.float32))
    assert all(p.state == "materialized" for p in twin.collect_params().values())
    assert_unchanged(net, before)


def test_copy_of_a_materialized_net_has_equal_values_in_new_arrays():
    net = tied_net()
    net.initialize(seed=5)
    x = np.ones((2, 3), np.float32)
    expected = net(x)

    twin = pickle.loads(pickle.dumps(net))

    for name, p in twin.collect_params().items():
        original = net.collect_params()[name]
        assert p._data is not original._data
        np.testing.assert_array_equal(p._data, original._data)
    np.testing.assert_array_equal(twin(x), expected)


# -- the repeat-call fast path ---------------------------------------------------------


def test_a_repeated_call_skips_planning_only_while_nothing_changed(monkeypatch):
    net = nn.Sequential(nn.Dense(4, activation="relu"), nn.Dense(2))
    net.initialize(seed=0)
    x = np.ones((3, 5), np.float32)
    first = net(x)
    plans = []
    original = nn.Sequential._infer
    monkeypatch.setattr(
        nn.Sequential,
        "_infer",
        lambda self, s, p: plans.append(s) or original(self, s, p),
    )
    np.testing.assert_array_equal(net(x), first)
    assert plans == []  # same shape, nothing changed: the plan is known
    with pytest.raises(ShapeError):
        net(np.ones((3, 6), np.float32))  # another shape is planned and refused
    assert plans == [(3, 6)]
    net[1].weight.set_data(np.zeros((2, 4)))  # a change: the next call plans again
    np.testing.assert_array_equal(net(x), np.zeros((3, 2)))
    assert plans == [(3, 6), (3, 5)]


def test_adding_a_layer_after_a_call_plans_the_next_call_again():
    net = nn.Sequential(nn.Dense(4))
    net.initialize(seed=0)
    x = np.ones((2, 3), np.float32)
    net(x)
    net.add(nn.Dense(2))  # declared, never initialized: planning must say so
    with pytest.raises(DeferredInitializationError, match="never initialized"):
        net(x)
