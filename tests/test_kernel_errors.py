"""In a real kernel, a mistake in a %%lazynet cell is an error output that
nbclient (and so nbval, nbconvert and papermill) sees, rendered short."""

import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def execute(*sources, allow_errors=False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    NotebookClient(
        nb, timeout=60, kernel_name="python3", allow_errors=allow_errors
    ).execute()
    return nb


def test_syntax_error_in_a_cell_is_a_kernel_error_output():
    with pytest.raises(CellExecutionError) as e:
        execute("%load_ext lazymagic", "%%lazynet net\ndense 3\ndens 10\n")
    assert "LazyNetSyntaxError" in str(e.value)


def test_error_output_is_short_and_names_line_and_column():
    nb = execute(
        "%load_ext lazymagic",
        "%%lazynet net\ndense 3\ndens 10\n",
        "print('net' in globals())",
        allow_errors=True,
    )
    errors = [o for o in nb.cells[1].outputs if o.output_type == "error"]
    assert len(errors) == 1
    error = errors[0]
    assert error.ename == "LazyNetSyntaxError"
    assert "line 2, column 1" in error.evalue
    text = ANSI.sub("", "\n".join(error.traceback))
    assert "Traceback" not in text and "parser.py" not in text
    assert "Did you mean 'dense'?" in text
    assert nb.cells[2].outputs[0].text == "False\n"  # nothing was bound
