"""In a real kernel, the dashboard shown in one cell follows the later cells: the
saved widget state (what a front end would render) holds the updated table."""

from __future__ import annotations

import base64
import html
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

WALKTHROUGH = [
    "import numpy as np\n"
    "import lazymagic\n"
    "from lazymagic import nn\n"
    "net = nn.Sequential(nn.Dense(256, activation='relu'), nn.Dense(10))",
    "dashboard = lazymagic.show(net)\ndashboard",
    "net.initialize(seed=0)",
    "X = np.random.default_rng(0).uniform(size=(2, 20)).astype(np.float32)\n"
    "net(X).shape",
    "dashboard.select('0.weight');",
]


MAGIC_WALKTHROUGH = [
    "%load_ext lazymagic\nimport numpy as np",
    "%%lazynet net --seed 0\ndense 256 act=relu\ndense 10",
    "net.initialize()",
    "net(np.ones((2, 20), dtype=np.float32)).shape",
]


def run(sources: list[str]) -> nbformat.NotebookNode:
    """Run ``sources`` as cells in a fresh kernel, keeping the widget state."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.fspath(ROOT))  # the kernel imports this checkout
        patch.delenv("MPLBACKEND", raising=False)
        NotebookClient(
            nb,
            timeout=120,
            kernel_name="python3",
            store_widget_state=True,
            resources={"metadata": {"path": os.fspath(ROOT)}},
        ).execute()
    return nb


@pytest.fixture(scope="module")
def walkthrough() -> nbformat.NotebookNode:
    return run(WALKTHROUGH)


def widget_state(nb: nbformat.NotebookNode) -> dict[str, dict]:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]
    return state["state"]


def row_states(table_html: str) -> dict[str, tuple[str, str]]:
    """Dotted name -> (shape, state word), read from the table's HTML."""
    rows = {}
    for name, cells in re.findall(
        r"<tr class='lazy-row' data-name='([^']+)'>(.*?)</tr>", table_html
    ):
        texts = [
            html.unescape(re.sub(r"<[^>]+>", "", c))
            for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)
        ]
        rows[name] = (texts[1], texts[3].lstrip("\u25cf ").strip())
    return rows


def shown_table(nb: nbformat.NotebookNode, cell: int) -> str:
    """The HTML value of the table inside the dashboard that ``cell`` displayed."""
    state = widget_state(nb)
    (shown,) = nb.cells[cell].outputs
    view = shown["data"]["application/vnd.jupyter.widget-view+json"]
    dashboard = state[view["model_id"]]
    assert dashboard["model_name"] == "VBoxModel"
    assert "lazy-dashboard" in dashboard["state"]["_dom_classes"]
    children = [c.removeprefix("IPY_MODEL_") for c in dashboard["state"]["children"]]
    table = state[children[0]]
    assert table["model_name"] == "HTMLModel"
    return table["state"]["value"]


def test_dashboard_state_follows_later_cells_in_a_kernel(walkthrough):
    nb = walkthrough

    rows = row_states(shown_table(nb, 1))
    assert rows == {
        "0.weight": ("(256, 20)", "materialized"),
        "0.bias": ("(256,)", "materialized"),
        "1.weight": ("(10, 256)", "materialized"),
        "1.bias": ("(10,)", "materialized"),
    }
    assert nb.cells[3].outputs[0]["data"]["text/plain"] == "(2, 10)"


def test_fallback_in_the_notebook_shows_the_state_at_display_time(walkthrough):
    (shown,) = walkthrough.cells[1].outputs
    text = shown["data"]["text/plain"]
    assert "4 parameters · 4 declared" in text
    lines = text.splitlines()[3:]  # after the title, the totals and the header
    assert [line.split("float32")[1].split()[0] for line in lines] == ["declared"] * 4
    assert "(256, ?)" in text and "256·in_units" in text
    assert row_states(shown["data"]["text/html"])["1.weight"] == ("(10, ?)", "declared")


def test_histogram_png_reaches_the_output_widget_state(walkthrough):
    nb = walkthrough
    state = widget_state(nb)

    outputs = [
        m["state"]["outputs"]
        for m in state.values()
        if m["model_name"] == "OutputModel" and m["state"].get("outputs")
    ]
    assert len(outputs) == 1
    (image,) = outputs[0]
    assert image["data"]["text/plain"] == "<histogram of 0.weight>"
    assert base64.b64decode(image["data"]["image/png"]).startswith(b"\x89PNG")
    assert nb.cells[4].outputs == []


def test_dashboard_of_a_lazynet_cell_follows_later_cells():
    nb = run(MAGIC_WALKTHROUGH)

    rows = row_states(shown_table(nb, 1))
    assert [state for _, state in rows.values()] == ["materialized"] * 4
    assert rows["0.weight"][0] == "(256, 20)"
    (shown,) = nb.cells[1].outputs
    assert "0.weight  (256, ?)  float32  declared" in shown["data"]["text/plain"]
