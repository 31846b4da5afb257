"""Run tutorial notebooks in a fresh kernel.

    python .ci/execute_notebooks.py --refresh notebooks/*.ipynb   # store outputs
    python .ci/execute_notebooks.py --show notebooks/01-...ipynb  # print them

``--refresh`` rewrites each notebook with the outputs nbval then checks. Saved
widget state is dropped first (it changes on every run and is never compared);
the dashboard keeps its text and HTML forms in the outputs.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)  # timings stored by earlier runs
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        store_widget_state=False,
        record_timing=False,  # timestamps would change every cell on every run
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return nb


def show(nb: nbformat.NotebookNode) -> None:
    """Print each cell and its outputs as a terminal session would."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            text = cell.source.strip()
            print("\n" + textwrap.indent(text, "  | "))
            continue
        if cell.cell_type != "code":
            continue
        print(f"\nIn [{cell.execution_count}]:")
        print(textwrap.indent(cell.source, "    "))
        for out in cell.outputs:
            if out.output_type == "stream":
                print(out.text, end="" if out.text.endswith("\n") else "\n")
            elif out.output_type in ("execute_result", "display_data"):
                data = out.get("data", {})
                if "text/plain" in data:
                    print(data["text/plain"])
                elif "image/png" in data:
                    print("[an image]")
            elif out.output_type == "error":
                print(ANSI.sub("", f"{out.ename}: {out.evalue}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--refresh", action="store_true", help="store outputs in place")
    mode.add_argument("--show", action="store_true", help="print the outputs")
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    for path in args.notebooks:
        nb = execute(path)
        if args.refresh:
            nbformat.write(nb, path)
            print(f"refreshed {path}")
        else:
            show(nb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
