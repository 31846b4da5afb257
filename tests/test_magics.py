"""%%lazynet and %lazyshow driven through a real IPython shell."""

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import lazymagic
from lazymagic import LazyNetSyntaxError, options


def run(shell, source):
    with capture_output() as cap:
        result = shell.run_cell(source)
    return result, cap


def test_cell_binds_the_net_with_declared_parameters(shell):
    result, _ = run(shell, "%%lazynet net\ndense 256 act=relu\ndense 10\n")
    assert result.success
    net = shell.user_ns["net"]
    assert isinstance(net, lazymagic.nn.Sequential)
    params = net.collect_params()
    assert [p.shape for p in params.values()] == [
        (256, None),
        (256,),
        (10, None),
        (10,),
    ]
    assert all(p.state == "declared" for p in params.values())


def test_walkthrough_through_the_magic_gives_the_python_api_states(shell):
    run(shell, "%%lazynet net\ndense 256 act=relu\ndense 10\n")
    net = shell.user_ns["net"]
    net.initialize(seed=0)
    assert net[0].weight.state == "pending" and net[1].weight.state == "pending"
    out = net(np.ones((2, 20), np.float32))
    assert out.shape == (2, 10)
    assert [p.shape for p in net.collect_params().values()] == [
        (256, 20),
        (256,),
        (10, 256),
        (10,),
    ]
    # The same net declared in Python draws the same values from the same seed.
    reference = lazymagic.nn.Sequential(
        lazymagic.nn.Dense(256, activation="relu"), lazymagic.nn.Dense(10)
    )
    reference.initialize(seed=0)
    np.testing.assert_array_equal(out, reference(np.ones((2, 20), np.float32)))


def test_cell_displays_the_parameter_table(shell):
    _, cap = run(shell, "%%lazynet net\ndense 256 act=relu\ndense 10\n")
    assert len(cap.outputs) == 1
    data = cap.outputs[0].data
    assert "0.weight" in data["text/plain"] and "(256, ?)" in data["text/plain"]
    assert "text/html" in data


def test_quiet_displays_nothing(shell):
    result, cap = run(shell, "%%lazynet net --quiet\ndense 3\n")
    assert result.success and cap.outputs == [] and cap.stdout == ""
    assert "net" in shell.user_ns


def test_init_and_seed_options_are_the_defaults_of_a_later_initialize(shell):
    run(shell, "%%lazynet net --init constant(0.25) --seed 5 --quiet\ndense 3 in=2\n")
    net = shell.user_ns["net"]
    assert net[0].weight.state == "declared"  # the cell itself does not initialize
    net.initialize()
    np.testing.assert_array_equal(net[0].weight.data(), np.full((3, 2), 0.25))
    run(shell, "%%lazynet other --seed 5 --quiet\ndense 3 in=2\n")
    other = shell.user_ns["other"]
    other.initialize()
    again = lazymagic.nn.Sequential(lazymagic.nn.Dense(3, in_units=2))
    again.initialize(seed=5)
    np.testing.assert_array_equal(other[0].weight.data(), again[0].weight.data())


def test_dtype_option_sets_every_parameter(shell):
    run(shell, "%%lazynet net --dtype float64 --quiet\ndense 3\n")
    net = shell.user_ns["net"]
    net.initialize()
    out = net(np.ones((1, 2)))
    assert out.dtype == np.float64
    assert {p.dtype for p in net.collect_params().values()} == {np.dtype("float64")}


@pytest.mark.parametrize(
    "line",
    ["", "--seed notanint", "--dtype float16", "--bogus", "1net", "class"],
)
def test_bad_magic_line_is_a_usage_error(shell, line):
    result, cap = run(shell, f"%%lazynet {line}\ndense 3\n")
    assert not result.success
    assert "UsageError" in cap.stderr or "usage" in cap.stderr.lower()


def test_bad_init_option_is_a_usage_error_with_a_suggestion(shell):
    result, cap = run(shell, "%%lazynet net --init xavir\ndense 3\n")
    assert not result.success
    assert "xavier" in cap.stderr


def test_syntax_error_fails_the_cell_and_binds_nothing(shell):
    result, _ = run(shell, "%%lazynet net\ndense 3\ndens 10\n")
    assert not result.success
    error = result.error_in_exec
    assert isinstance(error, LazyNetSyntaxError)
    assert (error.line, error.column) == (2, 1)
    assert "net" not in shell.user_ns


def test_failing_cell_never_overwrites_an_existing_name(shell):
    shell.user_ns["net"] = "keep me"
    result, _ = run(shell, "%%lazynet net\ndense 3 act=\n")
    assert not result.success
    assert shell.user_ns["net"] == "keep me"


@pytest.mark.parametrize("body", ["\n\n", "# only a comment\n\n   # another\n"])
def test_body_without_statements_is_an_error(shell, body):
    result, _ = run(shell, f"%%lazynet net\n{body}")
    assert not result.success
    assert isinstance(result.error_in_exec, LazyNetSyntaxError)
    assert "net" not in shell.user_ns


def test_an_empty_body_fails_before_the_magic_runs(shell):
    # IPython refuses an empty cell-magic body itself, with a UsageError.
    result, cap = run(shell, "%%lazynet net\n")
    assert not result.success
    assert "cell body is empty" in cap.stderr


def test_errors_render_short_without_library_frames(shell):
    result, cap = run(shell, "%%lazynet net\ndens 10\n")
    assert not result.success
    text = cap.stdout + cap.stderr
    assert "LazyNetSyntaxError" in text and "Did you mean 'dense'?" in text
    assert "Traceback" not in text and "site-packages" not in text
    assert "parser.py" not in text


def test_short_errors_off_shows_the_full_traceback(shell):
    shell.run_line_magic("config", "LazyMagic.short_errors = False")
    assert options.short_errors is False
    result, cap = run(shell, "%%lazynet net\ndens 10\n")
    assert not result.success
    assert "Traceback" in cap.stdout + cap.stderr


def test_python_api_errors_in_a_cell_also_render_short(shell):
    run(shell, "%%lazynet net --quiet\ndense 3\n")
    result, cap = run(shell, "net[0].weight.data()")
    assert isinstance(result.error_in_exec, lazymagic.DeferredInitializationError)
    text = cap.stdout + cap.stderr
    assert "DeferredInitializationError" in text and "Traceback" not in text


def test_config_and_options_are_the_same_setting(shell):
    shell.run_line_magic("config", "LazyMagic.max_param_bytes = 1000")
    assert options.max_param_bytes == 1000
    options.max_param_bytes = 2000
    magics = [c for c in shell.configurables if type(c).__name__ == "LazyMagic"][0]
    assert magics.max_param_bytes == 2000


def test_help_comes_from_the_docstring(shell):
    with capture_output() as cap:
        shell.run_cell("%%lazynet?")
    text = cap.stdout
    assert "%%lazynet [--init INIT] [--seed SEED]" in text
    assert "--seed" in text and "Declare a network without input sizes" in text


def test_lazyshow_displays_a_net_and_rejects_other_names(shell):
    run(shell, "%%lazynet net --quiet\ndense 3\n")
    result, cap = run(shell, "%lazyshow net")
    assert result.success and len(cap.outputs) == 1
    result, cap = run(shell, "%lazyshow nothing_here")
    assert not result.success and "nothing_here" in cap.stderr
    shell.user_ns["x"] = 3
    result, cap = run(shell, "%lazyshow x")
    assert not result.success and "not a lazymagic net" in cap.stderr


def test_input_statement_fills_shapes_at_declaration(shell):
    run(
        shell,
        "%%lazynet net --quiet\ninput (batch, 20)\ndense 256 act=relu\ndense 10\n",
    )
    net = shell.user_ns["net"]
    assert net[0].weight.shape == (256, 20) and net[1].weight.shape == (10, 256)
    assert net[0].weight.state == "declared"


def test_namespace_lookup_reads_an_integer(shell):
    shell.user_ns["hidden"] = 32
    run(shell, "%%lazynet net --quiet\ndense {hidden} act=relu\n")
    assert shell.user_ns["net"][0].units == 32


def test_shape_error_in_a_cell_names_the_layer_and_its_line(shell):
    result, _ = run(shell, "%%lazynet net\ninput (batch, 3, 4, 4)\nconv2d 8 kernel=7\n")
    assert isinstance(result.error_in_exec, lazymagic.ShapeError)
    # floor((4 + 0 - (7 - 1) - 1) / 1) + 1 = -2
    assert "layer '0' (conv2d 8 kernel=7, line 2 of the cell)" in str(
        result.error_in_exec
    )
    assert "= -2" in str(result.error_in_exec)
    assert "net" not in shell.user_ns


def test_unloading_restores_a_handler_the_user_had_registered():
    sh = InteractiveShell.instance()
    seen = []

    def mine(shell, etype, value, tb, tb_offset=None):
        seen.append(etype)
        return []

    sh.set_custom_exc((ZeroDivisionError,), mine)
    sh.run_line_magic("load_ext", "lazymagic")
    sh.run_line_magic("unload_ext", "lazymagic")
    with capture_output():
        sh.run_cell("1 / 0")
    InteractiveShell.clear_instance()
    assert sh.custom_exceptions == (ZeroDivisionError,) and seen == [ZeroDivisionError]
