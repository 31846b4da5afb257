"""Histograms of a materialized parameter's values, with the theoretical density of
its initializer drawn over them, drawn one parameter at a time on demand.

matplotlib is imported only when a histogram is drawn; the figure is a plain
``matplotlib.figure.Figure`` (no pyplot, so nothing is shown twice) saved as PNG and
put into an ``Output`` widget from the kernel side, which works with or without a
front end and under nbval.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np

from ..engine.parameter import Parameter, State
from ..engine.table import STATE_COLORS
from ..errors import InvalidValueError
from ..init import Distribution

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Limitation: histograms sample at most 100,000 values per parameter, so rare
# extremes of a larger parameter may not show.
MAX_SAMPLE = 100_000
# Below this many values a histogram says nothing about the distribution's shape.
TOO_FEW = 30
# At most this many distinct values are drawn as spikes rather than as bars.
SPIKES = 10

BAR_COLOR = "#56b4e9"
DENSITY_COLOR = "#d55e00"
PLACEHOLDER = ("— pick a materialized parameter —", "")


@dataclass(frozen=True)
class Histogram:
    """What one histogram shows: the values drawn, the theory, and a caption."""

    name: str
    sample: np.ndarray
    total: int
    distribution: Distribution | None
    caption: str


def sample_values(values: np.ndarray, limit: int = MAX_SAMPLE) -> np.ndarray:
    """Return the values as a flat float64 array, at most ``limit`` of them.

    The sample is drawn without replacement from a fixed seed, so the same values
    always give the same histogram.
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size > limit:
        picks = np.random.default_rng(0).choice(flat.size, size=limit, replace=False)
        flat = flat[np.sort(picks)]
    return flat.astype(np.float64)


def distribution_of(param: Parameter) -> Distribution | None:
    """The initializer's theoretical distribution for this parameter, if it has one."""
    if param.init is None or not param.is_complete:
        return None
    return param.init.describe(param.shape, param.name)  # type: ignore[arg-type]


def build(param: Parameter) -> Histogram:
    """Gather the sample, the theory and the caption for one parameter.

    Raises:
        ValueError: the parameter has no values yet.
    """
    if param.state is not State.MATERIALIZED:
        todo = (
            "Call net.initialize(), then pass a batch through the net (net(X))."
            if param.state is State.DECLARED
            else "Pass a batch through the net (net(X)) or call net.infer_shape(...)."
        )
        raise InvalidValueError(
            f"parameter '{param.name}' is {param.state.value}, so it has no values "
            f"to draw yet.\n{todo}"
        )
    values = param.data()
    sample = sample_values(values)
    dist = distribution_of(param)
    return Histogram(
        param.name,
        sample,
        int(values.size),
        dist,
        _caption(param.name, sample, int(values.size), dist),
    )


def _caption(
    name: str, sample: np.ndarray, total: int, dist: Distribution | None
) -> str:
    stats = f"{total:,} value{'s' if total != 1 else ''}"
    if sample.size:
        stats += f", mean {sample.mean():.4g}, std {sample.std():.4g}"
    if sample.size < total:
        stats += f" (from a sample of {sample.size:,})"
    if dist is None:
        theory = "values set directly, so there is no initializer's density to draw"
    elif dist.kind == "constant":
        exact = int(np.count_nonzero(sample == dist.value))
        theory = f"{dist.formula} (a spike; {exact:,} of {sample.size:,} equal it)"
    else:
        theory = dist.formula + (" (approximately)" if dist.approximate else "")
    parts = [f"'{name}'", theory, stats]
    if total < TOO_FEW:
        parts.append(f"only {total} values, too few to judge the distribution's shape")
    return " · ".join(parts)


def _support(dist: Distribution) -> tuple[float, float]:
    if dist.kind in ("uniform", "truncated_normal"):
        return dist.low, dist.high
    if dist.kind == "normal":
        return dist.mean - 4 * dist.std, dist.mean + 4 * dist.std
    return dist.value, dist.value


def figure(hist: Histogram) -> Figure:
    """Draw the histogram with the theoretical density over it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 2.8), dpi=96, layout="constrained")
    ax = fig.add_subplot()
    sample, dist = hist.sample, hist.distribution
    if not sample.size:  # a parameter with a zero dimension has nothing to draw
        ax.text(0.5, 0.5, f"{hist.name} has no values", ha="center", va="center")
        return fig
    distinct, counts = np.unique(sample, return_counts=True)
    if distinct.size <= SPIKES:
        ax.vlines(
            distinct,
            0,
            counts / sample.size,
            colors=BAR_COLOR,
            lw=4,
            label="values (share)",
        )
        ax.set_ylabel("share of values")
    else:
        bins = int(np.clip(np.sqrt(sample.size), 10, 60))
        ax.hist(sample, bins=bins, density=True, color=BAR_COLOR, label="values")
        ax.set_ylabel("density")
    if dist is not None and dist.kind == "constant":
        ax.axvline(
            dist.value,
            color=DENSITY_COLOR,
            ls="--",
            label=f"initializer: constant {dist.value:g}",
        )
    elif dist is not None:
        low, high = _support(dist)
        pad = 0.05 * (max(high, sample.max()) - min(low, sample.min()) or 1.0)
        grid = np.linspace(
            min(low, sample.min()) - pad, max(high, sample.max()) + pad, 600
        )
        grid = np.union1d(grid, [low, high])  # sharp edges for uniform and truncated
        ax.plot(
            grid,
            dist.pdf(grid),
            color=DENSITY_COLOR,
            lw=1.5,
            label=f"{dist.kind.replace('_', ' ')} density"
            + (" (approximate)" if dist.approximate else ""),
        )
    title = hist.name if dist is None else f"{hist.name}: {dist.formula}"
    if hist.total < TOO_FEW:
        title += f" — only {hist.total} values, too few to judge"
    ax.set_title(
        textwrap.fill(title, 90), fontsize=9, color=STATE_COLORS[State.MATERIALIZED]
    )
    ax.legend(fontsize=8, loc="upper right")
    ax.tick_params(labelsize=8)
    return fig


def render_png(hist: Histogram) -> bytes:
    """The histogram's figure as PNG bytes."""
    buffer = io.BytesIO()
    figure(hist).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


class HistogramView(widgets.VBox):
    """A picker of materialized parameters, a caption, and the drawn histogram."""

    def __init__(self) -> None:
        self.picker = widgets.Dropdown(
            options=[PLACEHOLDER],
            value="",
            description="histogram",
            layout=widgets.Layout(width="max-content"),
        )
        self.caption = widgets.HTML()
        self.plot = widgets.Output()
        super().__init__(children=[self.picker, self.caption, self.plot])
        self.add_class("lazy-histograms")
        self.current: Histogram | None = None

    @property
    def selected(self) -> str:
        """The dotted name picked, or ``""`` when none is."""
        return str(self.picker.value or "")

    def set_choices(self, names: list[str]) -> None:
        """Offer these parameters, keeping the current pick when it is still there.

        The caller must ignore the picker's value changes while this runs.
        """
        keep = self.selected
        options = [PLACEHOLDER] + [(n, n) for n in names]
        if list(self.picker.options) != options:
            self.picker.options = options
            self.picker.value = keep if keep in names else ""

    def draw(self, param: Parameter) -> None:
        """Draw ``param``'s histogram into the output, replacing the last one."""
        hist = build(param)
        png = base64.b64encode(render_png(hist)).decode("ascii")
        self.current = hist
        self.caption.value = (
            f"<span class='lazy-caption'>{html.escape(hist.caption)}</span>"
        )
        self.plot.outputs = (
            {
                "output_type": "display_data",
                "data": {
                    "image/png": png,
                    "text/plain": f"<histogram of {param.name}>",
                },
                "metadata": {},
            },
        )

    def clear(self) -> None:
        self.current = None
        self.caption.value = ""
        self.plot.outputs = ()

    def close(self) -> None:
        for child in (self.picker, self.caption, self.plot):
            child.close()
        super().close()


class HistogramImage:
    """One parameter's histogram as a picture: PNG for notebooks, caption as text.

    Unlike the dashboard's Output widget, it keeps the picture in the cell's own
    outputs, so a static export of the notebook shows it too.
    """

    def __init__(self, hist: Histogram) -> None:
        self.histogram = hist
        self.png = render_png(hist)

    def _repr_png_(self) -> bytes:
        return self.png

    def __repr__(self) -> str:
        return f"histogram of {self.histogram.caption}"


def histogram(param: Parameter) -> HistogramImage:
    """Draw ``param``'s values against its initializer's density, as a picture.

    Raises:
        ValueError: the parameter has no values yet.
    """
    return HistogramImage(build(param))
