"""Histograms on demand: a picked parameter's values against its initializer."""

from __future__ import annotations

import base64
import html
import math

import numpy as np
import pytest

from lazymagic import init, nn
from lazymagic.widgets import histograms

PLACEHOLDER = ""


def picker_values(dashboard):
    return [value for _, value in dashboard.histograms.picker.options]


def png_of(dashboard):
    (output,) = dashboard.histograms.plot.outputs
    return base64.b64decode(output["data"]["image/png"]), output


@pytest.fixture
def ready(show, walkthrough_net):
    """The walkthrough net with its dashboard, after initialize and one batch."""
    dashboard = show(walkthrough_net)
    walkthrough_net.initialize(seed=0)
    walkthrough_net(np.ones((2, 20), dtype=np.float32))
    return walkthrough_net, dashboard


def test_picker_offers_only_materialized_parameters(show, walkthrough_net):
    dashboard = show(walkthrough_net)
    declared = picker_values(dashboard)
    walkthrough_net.initialize(seed=0)
    pending = picker_values(dashboard)
    walkthrough_net(np.ones((2, 20), dtype=np.float32))

    assert declared == [PLACEHOLDER]
    assert pending == [PLACEHOLDER, "0.bias", "1.bias"]
    assert picker_values(dashboard) == [
        PLACEHOLDER,
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
    ]


def test_nothing_is_drawn_until_a_parameter_is_picked(ready):
    _, dashboard = ready

    assert dashboard.histograms.picker.value == PLACEHOLDER
    assert dashboard.histograms.plot.outputs == ()
    assert dashboard.histograms.caption.value == ""


def test_picked_histogram_is_a_png_with_a_caption(ready):
    net, dashboard = ready

    dashboard.histograms.picker.value = "0.weight"  # as a user picks it

    png, output = png_of(dashboard)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert output["data"]["text/plain"] == "<histogram of 0.weight>"
    caption = dashboard.histograms.caption.value
    values = net[0].weight.data()
    assert "uniform" in caption and "[-0.07, 0.07]" in caption
    assert f"{256 * 20:,} values" in caption
    assert f"mean {values.astype(np.float64).mean():.4g}" in caption


def test_select_returns_the_dashboard_and_draws(ready):
    _, dashboard = ready

    assert dashboard.select("1.weight") is dashboard
    assert png_of(dashboard)[1]["data"]["text/plain"] == "<histogram of 1.weight>"


def test_selecting_a_parameter_without_values_explains_what_to_do(
    show, walkthrough_net
):
    dashboard = show(walkthrough_net)
    walkthrough_net.initialize(seed=0)

    with pytest.raises(ValueError, match=r"(?s)'0.weight' is pending.*net\(X\)"):
        dashboard.select("0.weight")
    with pytest.raises(
        KeyError, match=r"(?s)no parameter '2.weight'.*0.weight, 0.bias"
    ):
        dashboard.select("2.weight")


def test_uniform_density_is_drawn_over_the_values(ready):
    net, _ = ready
    hist = histograms.build(net[0].weight)

    ax = histograms.figure(hist).axes[0]

    (density,) = ax.lines
    bound = 0.07
    assert max(density.get_ydata()) == pytest.approx(1 / (2 * bound))
    assert len(ax.patches) > 10  # the bars of the histogram


def test_normal_density_peaks_at_one_over_sigma_root_two_pi(show):
    net = nn.Sequential(nn.Dense(50, in_units=40, weight_initializer=init.Normal(0.02)))
    net.initialize(seed=2)

    hist = histograms.build(net[0].weight)
    (density,) = histograms.figure(hist).axes[0].lines

    assert hist.distribution.kind == "normal"
    peak = 1 / (0.02 * math.sqrt(2 * math.pi))
    assert max(density.get_ydata()) == pytest.approx(peak, rel=1e-3)


def test_constant_parameter_is_drawn_as_a_spike(ready):
    net, dashboard = ready

    dashboard.select("0.bias")
    ax = histograms.figure(histograms.build(net[0].bias)).axes[0]

    caption = dashboard.histograms.caption.value
    assert "a spike; 256 of 256 equal it" in caption
    spikes = ax.collections[0].get_segments()
    assert len(spikes) == 1 and spikes[0][1][1] == pytest.approx(1.0)  # all at 0


def test_small_parameter_says_it_is_too_small_to_judge(ready):
    _, dashboard = ready

    dashboard.select("1.bias")

    assert "only 10 values, too few to judge" in dashboard.histograms.caption.value


def test_orthogonal_density_is_marked_approximate(show):
    net = nn.Sequential(nn.Dense(30, in_units=40, weight_initializer=init.Orthogonal()))
    dashboard = show(net)
    net.initialize(seed=0)

    dashboard.select("0.weight")

    assert "(approximately)" in dashboard.histograms.caption.value


def test_values_set_directly_have_no_density(show):
    net = nn.Sequential(nn.Dense(4))
    dashboard = show(net)
    net[0].weight.set_data(np.arange(12.0).reshape(4, 3))

    dashboard.select("0.weight")

    assert "no initializer's density" in html.unescape(
        dashboard.histograms.caption.value
    )
    assert len(histograms.figure(histograms.build(net[0].weight)).axes[0].lines) == 0


def test_histogram_redraws_when_its_values_change(ready):
    net, dashboard = ready
    dashboard.select("0.weight")
    first = png_of(dashboard)[0]

    net[0].weight.set_data(np.full((256, 20), 0.5))

    assert png_of(dashboard)[0] != first
    assert "mean 0.5, std 0" in dashboard.histograms.caption.value


def test_pick_survives_changes_to_other_parameters(ready):
    net, dashboard = ready
    dashboard.select("0.weight")
    output = dashboard.histograms.plot.outputs

    net[1].bias.set_data(np.ones(10))

    assert dashboard.histograms.picker.value == "0.weight"
    assert dashboard.histograms.plot.outputs is output  # not drawn again


def test_sample_is_capped_and_drawn_without_replacement():
    values = np.arange(250_000, dtype=np.float32)

    sample = histograms.sample_values(values)

    assert sample.size == 100_000 == histograms.MAX_SAMPLE
    assert np.unique(sample).size == sample.size
    assert np.array_equal(sample, histograms.sample_values(values))
    assert np.array_equal(histograms.sample_values(values[:50]), np.arange(50.0))


def test_exception_while_drawing_is_shown_in_the_dashboard(ready, monkeypatch):
    _, dashboard = ready

    def broken(hist):
        raise RuntimeError("no canvas today")

    monkeypatch.setattr(histograms, "render_png", broken)
    dashboard.histograms.picker.value = "0.weight"

    assert "RuntimeError: no canvas today" in dashboard.errors.value
    assert "drawing the histogram" in dashboard.errors.value
    assert dashboard.errors.layout.display != "none"


def test_histogram_picture_keeps_png_in_the_cell_and_caption_as_text(ready):
    net, dashboard = ready
    from lazymagic.widgets import histogram

    picture = histogram(net[1].weight)

    assert picture._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    assert repr(picture).startswith("histogram of '1.weight' · uniform")
    assert f"{10 * 256:,} values" in repr(picture)
    with pytest.raises(ValueError, match="'0.weight' is pending"):
        pending = nn.Sequential(nn.Dense(3))
        pending.initialize(seed=0)
        histogram(pending[0].weight)


def test_parameter_with_no_values_draws_an_empty_figure():
    param = nn.Sequential(nn.Dense(4)).collect_params()["0.weight"]
    param.set_data(np.zeros((4, 0)))

    hist = histograms.build(param)

    assert hist.total == 0 and "0 values" in hist.caption
    assert histograms.render_png(hist).startswith(b"\x89PNG")
