"""The dashboard follows the engine: one redraw per operation, only for its own net,
errors shown in the widget, and nothing kept alive or redrawn once it is gone."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from lazymagic import nn
from lazymagic.engine import events
from lazymagic.widgets import table as widget_table


def count_changes(widget, name="value"):
    changes = []
    widget.observe(changes.append, names=name)
    return changes


def test_one_forward_pass_redraws_the_table_exactly_once(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    walkthrough_net.initialize(seed=0)
    changes = count_changes(dashboard.table)
    redraws = dashboard.redraws

    walkthrough_net(np.ones((2, 20), dtype=np.float32))

    assert len(changes) == 1
    assert dashboard.redraws == redraws + 1
    assert "pending" not in changes[0]["new"]


def test_forward_pass_that_changes_no_state_does_not_redraw(show, walkthrough_net):
    walkthrough_net.initialize(seed=0)
    walkthrough_net(np.ones((2, 20), dtype=np.float32))
    dashboard = show(walkthrough_net)
    changes = count_changes(dashboard.table)

    walkthrough_net(np.ones((3, 20), dtype=np.float32))

    assert changes == []


def test_initialize_infer_shape_and_set_data_each_redraw_once(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    changes = count_changes(dashboard.table)
    before = dashboard.redraws

    walkthrough_net.initialize(seed=0)
    walkthrough_net.infer_shape(("batch", 20))
    walkthrough_net[1].bias.set_data(np.arange(10))

    assert dashboard.redraws - before == 3
    # the table text changes twice; new values of a materialized bias leave it as is
    assert len(changes) == 2
    assert "lazy-pending" in changes[0]["new"]
    assert "lazy-pending" not in changes[1]["new"]


def test_load_parameters_fills_the_dashboard(show, walkthrough_net, tmp_path, rows_of):
    source = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))
    source.initialize(seed=5)
    source(np.ones((1, 7), dtype=np.float32))
    source.save_parameters(str(tmp_path / "p.npz"))
    dashboard = show(walkthrough_net)

    walkthrough_net.load_parameters(str(tmp_path / "p.npz"))

    rows = rows_of(dashboard)
    assert [r["state"] for r in rows] == ["materialized"] * 4
    assert rows[0]["shape"] == "(256, 7)"


def test_changes_to_another_net_do_not_redraw(show, walkthrough_net):
    other = nn.Sequential(nn.Dense(3))
    dashboard = show(walkthrough_net)
    changes = count_changes(dashboard.table)

    other.initialize(seed=0)
    other(np.ones((1, 2), dtype=np.float32))

    assert changes == []


def test_dashboard_of_a_layer_follows_a_pass_through_its_parent(show, rows_of):
    net = nn.Sequential(nn.Dense(6), nn.Dense(2))
    net.initialize(seed=0)
    dashboard = show(net[1])

    net(np.ones((1, 3), dtype=np.float32))

    assert [r["state"] for r in rows_of(dashboard)] == ["materialized"] * 2


def test_exception_in_a_redraw_is_shown_in_the_dashboard(
    show, walkthrough_net, monkeypatch
):
    dashboard = show(walkthrough_net)
    assert dashboard.errors.layout.display == "none"

    def broken(*args):
        raise RuntimeError("the table could not be drawn")

    monkeypatch.setattr(widget_table.TableView, "render", broken)
    walkthrough_net.initialize(seed=0)

    assert "RuntimeError: the table could not be drawn" in dashboard.errors.value
    assert "Traceback" in dashboard.errors.value
    assert dashboard.errors.layout.display != "none"
    assert walkthrough_net[0].weight.state == "pending"  # the engine went on

    monkeypatch.undo()
    walkthrough_net(np.ones((2, 20), dtype=np.float32))

    assert dashboard.errors.value == ""
    assert dashboard.errors.layout.display == "none"


def test_closed_dashboard_stops_listening(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    assert dashboard._listener in events._listeners
    value = dashboard.table.value

    dashboard.close()
    walkthrough_net.initialize(seed=0)

    assert dashboard._listener not in events._listeners
    assert dashboard.table.value == value


def test_forgotten_dashboard_is_not_kept_alive_by_the_engine(walkthrough_net):
    import lazymagic

    dashboard = lazymagic.show(walkthrough_net)
    listener = dashboard._listener
    gone = weakref.ref(dashboard)
    dashboard.close()  # drops ipywidgets' own registry entry
    events.subscribe(listener)  # as if the engine still held it
    del dashboard
    gc.collect()

    assert gone() is None
    walkthrough_net.initialize(seed=0)  # the next change prunes the dead listener
    assert listener not in events._listeners


@pytest.mark.parametrize("layers", [1, 3])
def test_redraw_count_matches_operations_not_layers(show, layers):
    net = nn.Sequential(*[nn.Dense(4) for _ in range(layers)])
    dashboard = show(net)
    before = dashboard.redraws

    net.initialize(seed=0)
    net(np.ones((1, 5), dtype=np.float32))

    assert dashboard.redraws - before == 2
