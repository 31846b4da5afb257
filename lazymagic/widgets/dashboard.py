"""The dashboard: a live parameter table and on-demand histograms for one net.

The dashboard subscribes to the engine's state-change hook through a weak
reference, so a dashboard nobody holds any more is collected and unsubscribes; it
only reads the engine. Without a widget front end it displays as the same table in
text and HTML.
"""

from __future__ import annotations

import html
import logging
import traceback
import weakref
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..engine import events
from ..engine.parameter import Parameter, State
from ..errors import InvalidValueError
from .histograms import HistogramView
from .table import TableView, table_html, table_text

logger = logging.getLogger(__name__)


# Limitation: ipywidgets itself keeps every widget until it is closed, so a dashboard
# whose cell was run again keeps redrawing (a few milliseconds per change) until
# dashboard.close() or a kernel restart.
class _WeakListener:
    """Forward the engine's changes to a dashboard without keeping it alive."""

    def __init__(self, dashboard: Dashboard) -> None:
        self._ref = weakref.ref(dashboard)

    def __call__(self, changed: list[Parameter]) -> None:
        dashboard = self._ref()
        if dashboard is None or dashboard.comm is None:  # collected or closed
            events.unsubscribe(self)
            return
        dashboard._on_change(changed)


class Dashboard(widgets.VBox):
    """The parameter table of ``net``, kept up to date, with histograms on demand.

    Args:
        net: the block whose parameters to show; dotted names are relative to it.

    Attributes:
        table: the HTML widget with the parameter table and its totals.
        histograms: the picker, caption and plot of one parameter's values.
        errors: shows what went wrong when a redraw failed; hidden otherwise.
        redraws: how many changes to this net's parameters were redrawn (one per
            operation: a forward pass, ``initialize()``, ``set_data``, ...).
    """

    def __init__(self, net: Any) -> None:
        self.table = TableView()
        self.histograms = HistogramView()
        self.errors = widgets.HTML(layout=widgets.Layout(display="none"))
        super().__init__(children=[self.table, self.histograms, self.errors])
        self.add_class("lazy-dashboard")
        self.net = net
        self.redraws = 0
        self._choosing = False

        net.collect_params()  # dotted names relative to the net shown
        self._guarded("drawing the table", self._render, [])
        self.histograms.picker.observe(self._on_pick, names="value")
        self._listener = _WeakListener(self)
        events.subscribe(self._listener)

    # -- reading the net -----------------------------------------------------------

    def parameters(self) -> list[Parameter]:
        """The net's parameters, in table order, under their current dotted names."""
        return list(self.net._unique_params())

    def text(self) -> str:
        """The dashboard as plain text: the table, and the histogram's caption."""
        parts = [table_text(self.net, self.parameters())]
        if self.histograms.current is not None:
            parts.append(f"histogram of {self.histograms.current.caption}")
        return "\n".join(parts)

    def html(self) -> str:
        """The dashboard as HTML, for front ends without widgets."""
        out = table_html(self.net, self.parameters())
        if self.histograms.current is not None:
            caption = html.escape(self.histograms.current.caption)
            out += f"<p class='lazy-caption'>histogram of {caption}</p>"
        return out

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        data = super()._repr_mimebundle_(**kwargs) or {}
        data["text/plain"] = self.text()
        data["text/html"] = self.html()
        return data

    # -- acting --------------------------------------------------------------------

    def select(self, name: str) -> Dashboard:
        """Draw the histogram of parameter ``name``; return the dashboard.

        Raises:
            KeyError: the net has no parameter of that name.
            ValueError: the parameter has no values yet.
        """
        by_name = {p.name: p for p in self.parameters()}
        if name not in by_name:
            raise KeyError(
                f"the net has no parameter '{name}'.\n"
                f"Pick one of: {', '.join(by_name) or 'none'}."
            )
        param = by_name[name]
        if param.state is not State.MATERIALIZED:
            raise InvalidValueError(
                f"parameter '{name}' is {param.state.value}, so it has no values to "
                "draw yet.\nPass a batch through the net (net(X)) or call "
                "net.infer_shape(...) after net.initialize(), then select it."
            )
        self.histograms.picker.value = name
        return self

    def close(self) -> None:
        """Stop following the net and close every part of the dashboard."""
        events.unsubscribe(self._listener)
        for child in (self.table, self.histograms, self.errors):
            child.close()
        super().close()

    # -- reacting ------------------------------------------------------------------

    def _on_change(self, changed: list[Parameter]) -> None:
        mine = {id(p) for p in self.parameters()}
        if any(id(p) in mine for p in changed):
            self.redraws += 1
            self._guarded("redrawing after a change", self._render, changed)

    def _on_pick(self, change: dict[str, Any]) -> None:
        if not self._choosing:
            self._guarded("drawing the histogram", self._draw_selected)

    def _render(self, changed: list[Parameter]) -> None:
        params = self.parameters()
        self.table.render(self.net, params)
        self._choosing = True
        try:
            self.histograms.set_choices(
                [p.name for p in params if p.state is State.MATERIALIZED]
            )
        finally:
            self._choosing = False
        shown = self.histograms.current
        picked = self.histograms.selected
        if picked and (
            shown is None
            or shown.name != picked
            or any(p.name == picked for p in changed)
        ):
            self._draw_selected()
        elif not picked and shown is not None:
            self.histograms.clear()

    def _draw_selected(self) -> None:
        picked = self.histograms.selected
        if not picked:
            self.histograms.clear()
            return
        by_name = {p.name: p for p in self.parameters()}
        self.histograms.draw(by_name[picked])

    def _guarded(self, what: str, action: Callable[..., None], *args: Any) -> None:
        """Run ``action``; show any exception in the dashboard instead of losing it."""
        try:
            action(*args)
        except Exception as error:
            logger.debug("dashboard failed while %s", what, exc_info=True)
            self.errors.value = (
                f"<div class='lazy-error'><b>The dashboard failed while {what}: "
                f"{html.escape(type(error).__name__)}: {html.escape(str(error))}"
                f"</b><pre>{html.escape(traceback.format_exc())}</pre>The net itself "
                "is unchanged; show it again with lazymagic.show(net).</div>"
            )
            self.errors.layout.display = None
            return
        if self.errors.value:
            self.errors.value = ""
            self.errors.layout.display = "none"


def dashboard(net: Any) -> Dashboard:
    """Build the live dashboard of ``net`` (what ``lazymagic.show`` returns)."""
    return Dashboard(net)
