"""The dashboard in a real front end: JupyterLab in headless chromium.

A JupyterLab server on 127.0.0.1 opens a copy of a walkthrough notebook with no
outputs and no saved widget state, runs it cell by cell, and the test reads the
rendered dashboard from the page: declared rows after it is shown, pending rows
after ``initialize()``, materialized rows after the data cell, and a histogram.

Set ``LAZY_BROWSER_TEST=0`` to skip it; otherwise a missing chromium or playwright
is a failure, not a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.browser

if os.environ.get("LAZY_BROWSER_TEST", "1") == "0":
    pytest.skip(
        "LAZY_BROWSER_TEST=0 turns the browser test off", allow_module_level=True
    )

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SOURCE = ROOT / "notebooks" / "01-deferred-initialization.ipynb"
NOTEBOOK = SOURCE.name
# The widget's own table, not the text/html fallback of the same output.
TABLE = ".lazy-dashboard table.lazy-params"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_notebook(folder: Path) -> nbformat.NotebookNode:
    """A copy of the walkthrough with no outputs and no saved widget state, so
    nothing on the page can come from a previous run."""
    nb = nbformat.read(SOURCE, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nbformat.write(nb, folder / NOTEBOOK)
    return nb


def _code_cell(nb: nbformat.NotebookNode, start: str) -> int:
    """The index (among all cells) of the code cell whose source starts so."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.startswith(start):
            return index
    raise AssertionError(f"the walkthrough has no cell starting {start!r}")


def _request(url: str, method: str = "GET") -> int:
    data = b"" if method == "POST" else None
    with urllib.request.urlopen(
        urllib.request.Request(url, data, method=method), timeout=5
    ) as reply:
        return int(reply.status)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A JupyterLab server on a free loopback port, stopped by its PID afterwards."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing, so the browser test cannot run.\n"
            "Install it (apt-get install -y chromium), or set LAZY_BROWSER_TEST=0.",
            pytrace=False,
        )
    for module in ("playwright.sync_api", "jupyterlab"):
        try:
            __import__(module)
        except ImportError:
            pytest.fail(
                f"'{module}' cannot be imported, so the browser test cannot run.\n"
                "Install the browser extras (pip install -e '.[browser]'), or set "
                "LAZY_BROWSER_TEST=0.",
                pytrace=False,
            )

    work = tmp_path_factory.mktemp("lab")
    notebooks = work / "notebooks"
    notebooks.mkdir()
    nb = _write_notebook(notebooks)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update(
        HOME=str(work / "home"),
        JUPYTER_CONFIG_DIR=str(work / "jupyter-config"),
        JUPYTER_DATA_DIR=str(work / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(work / "jupyter-runtime"),
        IPYTHONDIR=str(work / "ipython"),
        MPLCONFIGDIR=str(work / "mpl"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    port, token = _free_port(), secrets.token_hex(16)
    log = (work / "server.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={notebooks}",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=notebooks,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"JupyterLab exited with code {server.returncode}:\n"
                    + (work / "server.log").read_text()[-3000:],
                    pytrace=False,
                )
            try:
                if _request(f"{base}/api/status?token={token}") == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("JupyterLab did not answer within 90 s.", pytrace=False)
            time.sleep(0.3)
        yield {"base": base, "token": token, "work": work, "nb": nb}
    finally:
        try:
            _request(f"{base}/api/shutdown?token={token}", method="POST")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(10)
        log.close()


@pytest.fixture
def page(lab: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(lab["work"] / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1280, "height": 1400},
        )
        try:
            yield context.pages[0]
        finally:
            context.close()
            shutil.rmtree(lab["work"] / "profile", ignore_errors=True)


def _prompt(page: Any, index: int) -> str:
    return (
        page.locator(".jp-Notebook .jp-Cell")
        .nth(index)
        .locator(".jp-InputPrompt")
        .inner_text()
        .strip()
    )


def _run_cell(page: Any, index: int, count: int) -> None:
    """Run cell ``index`` with Shift+Enter and wait for its prompt to read [count]:.

    A keystroke sent while the notebook is still settling can be lost, so it is
    sent again (up to three times) while the cell shows it never started.
    """
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    for _ in range(3):
        cell.locator(".jp-InputPrompt").click()
        page.keyboard.press("Shift+Enter")
        try:
            page.wait_for_function(
                "([i, want]) => { const c = document.querySelectorAll("
                "'.jp-Notebook .jp-Cell')[i]; return c && c.querySelector("
                "'.jp-InputPrompt').textContent.trim() === want; }",
                arg=[index, f"[{count}]:"],
                timeout=20_000,
            )
            return
        except Exception:
            if _prompt(page, index) not in ("[ ]:", ""):
                raise
    raise AssertionError(
        f"cell {index} never ran; its prompt is {_prompt(page, index)!r}"
    )


def _states(page: Any) -> list[str]:
    """The state word of every row of the dashboard widget's table."""
    return page.eval_on_selector_all(
        f"{TABLE} .lazy-state",
        "spans => spans.map(s => s.textContent.replace('\\u25cf', '').trim())",
    )


def _wait_for_states(page: Any, expected: list[str]) -> None:
    page.wait_for_function(
        "([sel, want]) => { const s = [...document.querySelectorAll(sel)].map("
        "x => x.textContent.replace('\\u25cf', '').trim()); "
        "return JSON.stringify(s) === JSON.stringify(want); }",
        arg=[f"{TABLE} .lazy-state", expected],
        timeout=30_000,
    )


def test_dashboard_goes_pending_then_materialized_in_jupyterlab(lab, page):
    ARTIFACTS.mkdir(exist_ok=True)
    nb = lab["nb"]
    shown = _code_cell(nb, "%%lazynet net")
    initialized = _code_cell(nb, "net.initialize()")
    data = _code_cell(nb, "out = net(X)")
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]

    page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
    # The notebook looks ready before its kernel is; wait for the status bar.
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    news = page.get_by_role("button", name="No")
    if news.count():
        news.first.click()

    # Run the walkthrough's code cells in order, as a reader would, checking the
    # dashboard that the %%lazynet cell displayed as the later cells change it.
    for count, index in enumerate(code[: code.index(data) + 1], start=1):
        _run_cell(page, index, count)
        if index == shown:
            page.wait_for_selector(TABLE, state="attached", timeout=30_000)
            assert _states(page) == ["declared"] * 4
        elif index == initialized:
            _wait_for_states(
                page, ["pending", "materialized", "pending", "materialized"]
            )
            board = page.locator(".lazy-dashboard").first
            board.scroll_into_view_if_needed()
            board.screenshot(path=str(ARTIFACTS / "lab-pending.png"))

    _wait_for_states(page, ["materialized"] * 4)
    shapes = page.eval_on_selector_all(
        f"{TABLE} tr.lazy-row", "rows => rows.map(r => r.cells[1].textContent)"
    )
    assert shapes == ["(256, 20)", "(256,)", "(10, 256)", "(10,)"]

    # Pick a parameter in the dashboard's own picker, as a reader would.
    page.locator(".lazy-dashboard select").first.select_option("0.weight")
    image = page.wait_for_selector(
        ".lazy-dashboard .widget-output img[src^='data:image/png']",
        state="attached",
        timeout=30_000,
    )
    assert image.evaluate("i => i.complete && i.naturalWidth > 0")
    caption = page.inner_text(".lazy-dashboard .lazy-caption")
    assert "'0.weight'" in caption and "uniform" in caption
    board = page.locator(".lazy-dashboard").first
    board.scroll_into_view_if_needed()
    board.screenshot(path=str(ARTIFACTS / "lab-materialized.png"))
