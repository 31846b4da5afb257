"""Fixtures shared across the test folders."""

import pytest
from IPython.core.interactiveshell import InteractiveShell

from lazymagic import options


@pytest.fixture
def shell():
    """A real IPython shell with lazymagic loaded; settings restored afterwards."""
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "lazymagic")
    yield sh
    sh.run_line_magic("unload_ext", "lazymagic")
    InteractiveShell.clear_instance()
    options.max_param_bytes = None
    options.short_errors = True
