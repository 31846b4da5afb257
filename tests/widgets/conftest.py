"""Fixtures for the dashboard tests: dashboards are closed after each test, so no
test's dashboard keeps listening to the engine during the next one."""

from __future__ import annotations

import html.parser
from collections.abc import Iterator
from typing import Any

import pytest

import lazymagic
from lazymagic import nn
from lazymagic.engine import events


@pytest.fixture
def show() -> Iterator[Any]:
    shown: list[Any] = []

    def make(net: nn.Block) -> Any:
        dashboard = lazymagic.show(net)
        shown.append(dashboard)
        return dashboard

    listeners_before = list(events._listeners)
    yield make
    for dashboard in shown:
        dashboard.close()
    assert events._listeners == listeners_before


@pytest.fixture
def walkthrough_net() -> nn.Sequential:
    """The seed walkthrough: dense 256 act=relu, dense 10."""
    return nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))


class _TableReader(html.parser.HTMLParser):
    """Read the cells of every ``lazy-row`` and the class of each state marker."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[dict[str, Any]] = []
        self.header: list[str] = []
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and "lazy-row" in (found.get("class") or ""):
            self.rows.append({"cells": [], "state_class": None, "style": None})
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "span" and "lazy-state" in (found.get("class") or ""):
            self.rows[-1]["state_class"] = found["class"]
            self.rows[-1]["style"] = found.get("style")

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if self._in_head:
                self.header.append(text)
            else:
                self.rows[-1]["cells"].append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_table(markup: str) -> list[dict[str, str]]:
    """Parse the dashboard's HTML table into one dict per row, keyed by header."""
    reader = _TableReader()
    reader.feed(markup)
    rows = []
    for row in reader.rows:
        cells = dict(zip(reader.header, row["cells"], strict=True))
        cells["state"] = cells["state"].lstrip("\u25cf ").strip()
        cells["state_class"] = row["state_class"]
        cells["style"] = row["style"]
        rows.append(cells)
    return rows


@pytest.fixture
def rows_of() -> Any:
    """Return the rows of a dashboard's table widget, read from its HTML."""

    def read(dashboard: Any) -> list[dict[str, str]]:
        return read_table(dashboard.table.value)

    return read
