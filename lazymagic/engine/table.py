"""The parameter table: the ordered mapping ``collect_params()`` returns, and its
text and HTML forms (which the dashboard also shows where no widgets exist)."""

from __future__ import annotations

import html
from collections import OrderedDict
from collections.abc import Iterable

from .memory import format_bytes
from .parameter import Parameter, State
from .shapes import format_shape

COLUMNS = ("name", "shape", "dtype", "state", "initializer", "values", "bytes")

STATE_COLORS = {
    State.DECLARED: "#9e9e9e",
    State.PENDING: "#e69f00",
    State.MATERIALIZED: "#009e73",
}


FAN_BASED = {
    "xavier",
    "xavier_uniform",
    "xavier_normal",
    "kaiming",
    "kaiming_uniform",
    "orthogonal",
}


def describe_init(param: Parameter) -> str:
    """The initializer as the table shows it, with the fans it uses or will use."""
    chosen = param.init or param.own_init
    if chosen is None:
        return "—"
    text = str(chosen)
    if chosen.name in FAN_BASED and len(param.shape) >= 2:
        receptive: int | None = 1
        for d in param.shape[2:]:
            receptive = receptive * d if d is not None and receptive else None
        out, inp = param.shape[0], param.shape[1]
        fan_in = "?" if inp is None or receptive is None else inp * receptive
        fan_out = "?" if out is None or receptive is None else out * receptive
        text += f" (fan_in {fan_in}, fan_out {fan_out})"
    return text


def row(param: Parameter) -> dict[str, str]:
    """One table row, every cell as text."""
    nbytes = param.nbytes
    return {
        "name": param.name,
        "shape": format_shape(param.shape),
        "dtype": param.dtype.name,
        "state": param.state.value,
        "initializer": describe_init(param),
        "values": param.size_formula() if param.size is None else f"{param.size:,}",
        "bytes": "?" if nbytes is None else format_bytes(nbytes),
    }


def summary(params: Iterable[Parameter]) -> str:
    """The header line: how many values are known, what is still unknown."""
    params = list(params)
    known = [p for p in params if p.is_complete]
    unknown = [p for p in params if not p.is_complete]
    counts = {s: sum(p.state is s for p in params) for s in State}
    values = sum(p.size or 0 for p in known)
    parts = [
        f"{len(params)} parameter{'s' if len(params) != 1 else ''}",
        ", ".join(f"{n} {s.value}" for s, n in counts.items() if n),
        f"{values:,} values known ({format_bytes(sum(p.nbytes or 0 for p in known))})",
    ]
    if unknown:
        formula = " + ".join(p.size_formula() for p in unknown)
        parts.append(f"still unknown: {formula}")
    return " · ".join(p for p in parts if p)


def text_table(params: Iterable[Parameter], title: str = "") -> str:
    """The table as aligned plain text."""
    params = list(params)
    rows = [row(p) for p in params]
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    right = {"values", "bytes"}

    def line(cells: dict[str, str]) -> str:
        out = [
            cells[c].rjust(widths[c]) if c in right else cells[c].ljust(widths[c])
            for c in COLUMNS
        ]
        return "  ".join(out).rstrip()

    lines = [title] if title else []
    lines.append(summary(params))
    lines.append(line({c: c for c in COLUMNS}))
    lines.extend(line(r) for r in rows)
    return "\n".join(lines)


def html_table(params: Iterable[Parameter], title: str = "") -> str:
    """The table as HTML, states marked by a word and a colour."""
    params = list(params)
    esc = html.escape
    head = "".join(f"<th style='text-align:left'>{esc(c)}</th>" for c in COLUMNS)
    body = []
    for p in params:
        cells = row(p)
        tds = []
        for c in COLUMNS:
            value = esc(cells[c])
            if c == "state":
                color = STATE_COLORS[p.state]
                value = (
                    f"<span class='lazy-state lazy-{p.state.value}' style='color:"
                    f"{color};font-weight:bold'>&#9679; {value}</span>"
                )
            align = "right" if c in ("values", "bytes") else "left"
            tds.append(f"<td style='text-align:{align}'>{value}</td>")
        body.append(
            f"<tr class='lazy-row' data-name='{esc(p.name)}'>{''.join(tds)}</tr>"
        )
    caption = f"<b>{esc(title)}</b><br>" if title else ""
    return (
        f"<div class='lazy-table'>{caption}<span class='lazy-summary'>"
        f"{esc(summary(params))}</span>"
        f"<table class='lazy-params'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


class ParameterDict(OrderedDict[str, Parameter]):
    """Parameters by dotted name, in order, printing as a table."""

    def __repr__(self) -> str:
        return text_table(self.values())

    def _repr_html_(self) -> str:
        return html_table(self.values())

    def __str__(self) -> str:
        return self.__repr__()
