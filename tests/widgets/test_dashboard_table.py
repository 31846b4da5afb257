"""The dashboard's table: one row per parameter, following the three states."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from lazymagic import init, nn


def widget_tree(widget):
    """Every widget under ``widget``, depth first."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from widget_tree(child)


def test_dashboard_is_a_widget_holding_the_parameter_table(show, walkthrough_net):
    dashboard = show(walkthrough_net)

    tables = [
        w
        for w in widget_tree(dashboard)
        if isinstance(w, widgets.HTML) and "class='lazy-params'" in w.value
    ]
    assert isinstance(dashboard, widgets.VBox)
    assert tables == [dashboard.table]
    assert any(isinstance(w, widgets.Dropdown) for w in widget_tree(dashboard))
    assert any(isinstance(w, widgets.Output) for w in widget_tree(dashboard))


def test_declared_rows_show_unknown_dims_and_value_formulas(
    show, walkthrough_net, rows_of
):
    rows = rows_of(show(walkthrough_net))

    assert [r["name"] for r in rows] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert [r["shape"] for r in rows] == ["(256, ?)", "(256,)", "(10, ?)", "(10,)"]
    assert [r["state"] for r in rows] == ["declared"] * 4
    assert [r["dtype"] for r in rows] == ["float32"] * 4
    assert [r["values"] for r in rows] == ["256·in_units", "256", "10·in_units", "10"]
    assert [r["bytes"] for r in rows] == ["?", f"{256 * 4 / 1024:.1f} KiB", "?", "40 B"]


def test_rows_go_pending_then_materialized(show, walkthrough_net, rows_of):
    dashboard = show(walkthrough_net)

    walkthrough_net.initialize(seed=0)
    after_init = {r["name"]: r for r in rows_of(dashboard)}
    walkthrough_net(np.ones((2, 20), dtype=np.float32))
    after_data = {r["name"]: r for r in rows_of(dashboard)}

    # weights wait for the input size; biases have full shapes, so they get values
    assert after_init["0.weight"]["state"] == "pending"
    assert after_init["1.weight"]["state"] == "pending"
    assert after_init["0.bias"]["state"] == "materialized"
    assert after_init["0.weight"]["initializer"] == "uniform(0.07)"
    assert [r["state"] for r in after_data.values()] == ["materialized"] * 4
    assert after_data["0.weight"]["shape"] == "(256, 20)"
    assert after_data["1.weight"]["shape"] == "(10, 256)"
    assert after_data["0.weight"]["values"] == f"{256 * 20:,}"
    assert after_data["1.weight"]["bytes"] == f"{10 * 256 * 4 / 1024:.1f} KiB"


def test_each_state_has_its_own_word_class_and_colour(show, walkthrough_net, rows_of):
    dashboard = show(walkthrough_net)
    declared = rows_of(dashboard)[0]
    walkthrough_net.initialize(seed=0)
    pending, materialized = rows_of(dashboard)[0], rows_of(dashboard)[1]

    marks = [
        (r["state"], r["state_class"], r["style"])
        for r in (declared, pending, materialized)
    ]
    assert [m[0] for m in marks] == ["declared", "pending", "materialized"]
    for word, css, _ in marks:
        assert css.split() == ["lazy-state", f"lazy-{word}"]
    colours = {style.split("color:")[1].split(";")[0] for _, _, style in marks}
    assert len(colours) == 3


def test_initializer_column_shows_arguments_and_fans(show, rows_of):
    net = nn.Sequential(nn.Dense(64, weight_initializer=init.Xavier()), nn.Dense(3))
    dashboard = show(net)
    net.initialize(init.Normal(0.01), seed=1)
    before = rows_of(dashboard)
    net.infer_shape(("batch", 12))
    after = rows_of(dashboard)

    # dense weight (units, in_units): fan_in = in_units, fan_out = units
    assert before[0]["initializer"].endswith("(fan_in ?, fan_out 64)")
    assert after[0]["initializer"].endswith("(fan_in 12, fan_out 64)")
    assert after[2]["initializer"] == "normal(0.01)"
    assert before[0]["initializer"].startswith("xavier")


def test_header_totals_known_values_unknown_part_and_memory(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    before = dashboard.table.value
    walkthrough_net.initialize(seed=0)
    walkthrough_net(np.ones((2, 20), dtype=np.float32))
    after = dashboard.table.value

    known_before = 256 + 10
    assert f"{known_before} values known" in before
    assert "still unknown: 256·in_units + 10·in_units" in before
    assert (
        "memory once materialized: 1.0 KiB + 4 B·(256·in_units + 10·in_units)" in before
    )
    total = 256 * 20 + 256 + 10 * 256 + 10
    assert f"{total:,} values known" in after
    assert "still unknown" not in after
    assert f"memory once materialized: {total * 4 / 1024:.1f} KiB" in after


def test_text_fallback_lists_every_parameter_and_state(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    walkthrough_net.initialize(seed=0)

    lines = dashboard._repr_mimebundle_()["text/plain"].splitlines()
    body = {line.split()[0]: line.split() for line in lines[3:]}
    assert len(lines) == 3 + 4  # title, totals, header, one line per parameter
    assert body["0.weight"][:5] == ["0.weight", "(256,", "?)", "float32", "pending"]
    assert body["1.bias"][3] == "materialized"


def test_fallbacks_are_identical_across_runs_and_hold_no_ids(show):
    def build():
        net = nn.Sequential(nn.Conv2D(4, kernel_size=3), nn.Flatten(), nn.Dense(5))
        dashboard = show(net)
        net.initialize(init.Xavier(), seed=3)
        net(np.ones((1, 2, 6, 6), dtype=np.float32))
        dashboard.select("0.weight")
        return dashboard, dashboard._repr_mimebundle_()

    first, bundle1 = build()
    second, bundle2 = build()

    assert bundle1["text/plain"] == bundle2["text/plain"]
    assert bundle1["text/html"] == bundle2["text/html"]
    model_ids = (first.model_id, second.model_id)
    assert (
        bundle1["application/vnd.jupyter.widget-view+json"]["model_id"] == model_ids[0]
    )
    for text in (bundle1["text/plain"], bundle1["text/html"]):
        assert not any(m in text for m in model_ids)
        assert "0x" not in text and "IPY_MODEL" not in text
    assert "histogram of '0.weight'" in bundle1["text/plain"]


def test_html_fallback_is_the_table_of_the_widget(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    walkthrough_net.initialize(seed=0)

    assert dashboard._repr_mimebundle_()["text/html"] == dashboard.table.value


def test_sub_block_dashboard_names_relative_to_it(show, rows_of):
    net = nn.Sequential(nn.Dense(8), nn.Sequential(nn.Dense(4, label="fc")))

    rows = rows_of(show(net))

    assert [r["name"] for r in rows] == [
        "0.weight",
        "0.bias",
        "1.fc.weight",
        "1.fc.bias",
    ]
