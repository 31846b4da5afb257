"""The dashboard's parameter table: a title with the memory total, and the engine's
text and HTML tables, so the widget and its fallbacks always show the same rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import ipywidgets as widgets

from ..engine.memory import format_bytes
from ..engine.parameter import Parameter
from ..engine.table import html_table, text_table


def memory_once_materialized(params: Iterable[Parameter]) -> str:
    """The bytes every parameter will take once materialized, as far as known.

    While dimensions are unknown the result is a formula: the known bytes plus the
    bytes per value times the number of values still unknown.

    >>> from lazymagic import nn
    >>> layer = nn.Dense(10)
    >>> memory_once_materialized(layer.collect_params().values())
    '40 B + 4 B·(10·in_units)'
    """
    params = list(params)
    known = sum(p.nbytes or 0 for p in params if p.is_complete)
    by_itemsize: dict[int, list[str]] = defaultdict(list)
    for p in params:
        if not p.is_complete:
            by_itemsize[p.dtype.itemsize].append(p.size_formula())
    terms = [format_bytes(known)] if known or not by_itemsize else []
    for itemsize, formulas in sorted(by_itemsize.items()):
        terms.append(f"{format_bytes(itemsize)}·({' + '.join(formulas)})")
    return " + ".join(terms)


def table_title(net: Any, params: Iterable[Parameter]) -> str:
    """The line above the table: the net's class and its memory once materialized."""
    return (
        f"{type(net).__name__} · memory once materialized: "
        f"{memory_once_materialized(params)}"
    )


def table_text(net: Any, params: Iterable[Parameter]) -> str:
    """The table as plain text, as a terminal or nbval sees the dashboard."""
    params = list(params)
    return text_table(params, title=table_title(net, params))


def table_html(net: Any, params: Iterable[Parameter]) -> str:
    """The table as HTML, as the widget and a static export show it."""
    params = list(params)
    return html_table(params, title=table_title(net, params))


class TableView(widgets.HTML):
    """An HTML widget holding the parameter table of one net."""

    def render(self, net: Any, params: Iterable[Parameter]) -> None:
        """Redraw the table from the parameters' current states."""
        self.value = table_html(net, params)
