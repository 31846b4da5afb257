"""Dotted names: unique among siblings, and absolute whichever block is called."""

import copy
import pickle

import numpy as np
import pytest

from lazymagic import InvalidValueError, LazyNetSyntaxError, nn
from lazymagic.dsl.cell import build_cell


def test_a_label_equal_to_a_sibling_index_is_refused():
    with pytest.raises(InvalidValueError, match="number"):
        nn.Sequential(nn.Dense(3), nn.Dense(4, label="0"))


def test_two_siblings_with_one_label_are_refused_and_the_net_is_unchanged():
    net = nn.Sequential(nn.Dense(3, label="a"))
    with pytest.raises(InvalidValueError, match="'a'.*collide"):
        net.add(nn.Dense(4, label="a"))
    assert len(net) == 1
    assert list(net.collect_params()) == ["a.weight", "a.bias"]


def test_a_body_labelled_shortcut_clashes_with_the_real_shortcut():
    with pytest.raises(InvalidValueError, match="'shortcut'"):
        nn.Residual(nn.Dense(3, label="shortcut"), shortcut=nn.Dense(3))


def test_dsl_shortcut_label_clash_is_a_syntax_error_at_the_block():
    body = (
        "residual:\n"
        "    sequential shortcut:\n"
        "        dense 3\n"
        "    shortcut:\n"
        "        dense 3\n"
    )
    with pytest.raises(LazyNetSyntaxError) as e:
        build_cell(body)
    assert (e.value.line, e.value.column) == (1, 1)


def test_calling_a_child_first_keys_values_by_the_full_dotted_name():
    x = np.ones((2, 4), np.float32)
    first = nn.Sequential(nn.Dense(5), nn.Dense(3))
    first.initialize(seed=0)
    first[0](x)  # materializes 0.weight through the child alone
    assert first[0].weight.name == "0.weight"
    second = nn.Sequential(nn.Dense(5), nn.Dense(3))
    second.initialize(seed=0)
    second(x)
    np.testing.assert_array_equal(first[0].weight.data(), second[0].weight.data())
    np.testing.assert_array_equal(first(x), second(x))


def test_infer_shape_on_a_child_keeps_absolute_names():
    net = nn.Sequential(nn.Dense(5), nn.Sequential(nn.Dense(3), label="head"))
    net["head"].infer_shape(("batch", 5))
    assert list(net["head"].collect_params()) == ["head.0.weight", "head.0.bias"]


def test_copies_and_pickles_have_their_own_parents():
    net = nn.Sequential(nn.Dense(5), nn.Sequential(nn.Dense(3)))
    for other in (copy.deepcopy(net), pickle.loads(pickle.dumps(net))):
        assert other[0]._parent() is other
        assert other[1][0]._parent() is other[1]
        assert list(other.collect_params()) == list(net.collect_params())
    alone = copy.deepcopy(net[1])
    assert list(alone.collect_params()) == ["0.weight", "0.bias"]


def test_a_child_whose_parent_is_gone_is_named_as_its_own_root():
    import gc

    net = nn.Sequential(nn.Sequential(nn.Dense(3)))
    child = net[0]
    assert list(child.collect_params()) == ["0.0.weight", "0.0.bias"]
    del net
    gc.collect()
    assert list(child.collect_params()) == ["0.weight", "0.bias"]
