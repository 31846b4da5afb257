"""Tests of ``python -m lazymagic FILE --input SHAPE``, run as a user would run it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

LENET_BODY = """\
conv2d 6 kernel=5 padding=2 act=sigmoid
avgpool2d kernel=2 stride=2
conv2d 16 kernel=5 act=sigmoid
avgpool2d kernel=2 stride=2
flatten
fc1 = dense 120 act=sigmoid       # a label names the layer
dense 84 act=sigmoid init=xavier
dense 10
"""

ROW = re.compile(r"^(\S+)\s+(\([^)]*\))\s+(float32|float64)\s")


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lazymagic", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return name


def out_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    return (n + 2 * padding - (kernel - 1) - 1) // stride + 1


def shape_text(*dims: int | str) -> str:
    inner = ", ".join(str(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def lenet_shapes(image: int) -> dict[str, str]:
    """LeNet's parameter shapes for square grayscale images, worked out by hand."""
    side = out_size(image, kernel=5, padding=2)  # conv2d 6 kernel=5 padding=2
    side = out_size(side, kernel=2, stride=2)  # avgpool2d kernel=2 stride=2
    side = out_size(side, kernel=5)  # conv2d 16 kernel=5
    side = out_size(side, kernel=2, stride=2)  # avgpool2d kernel=2 stride=2
    flat = 16 * side * side
    return {
        "0.weight": shape_text(6, 1, 5, 5),
        "0.bias": shape_text(6),
        "2.weight": shape_text(16, 6, 5, 5),
        "2.bias": shape_text(16),
        "fc1.weight": shape_text(120, flat),
        "fc1.bias": shape_text(120),
        "6.weight": shape_text(84, 120),
        "6.bias": shape_text(84),
        "7.weight": shape_text(10, 84),
        "7.bias": shape_text(10),
    }


def table_rows(stdout: str) -> dict[str, str]:
    """The parameter table's rows: dotted name -> shape as printed."""
    rows = {}
    for line in stdout.splitlines():
        match = ROW.match(line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def test_cli_prints_lenet_table_and_output_shape(tmp_path):
    name = write(tmp_path, "lenet.lazy", LENET_BODY)

    result = run(tmp_path, name, "--input", "(batch, 1, 28, 28)")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # 28 -> 28 -> 14 -> 10 -> 5, so flatten gives 16 * 5 * 5 = 400 features.
    assert lenet_shapes(28)["fc1.weight"] == "(120, 400)"
    assert table_rows(result.stdout) == lenet_shapes(28)
    assert "output shape: (batch, 10)" in result.stdout.splitlines()


def test_cli_shows_parameters_as_declared_with_their_value_counts(tmp_path):
    name = write(tmp_path, "lenet.lazy", LENET_BODY)

    result = run(tmp_path, name, "--input", "(batch, 1, 28, 28)")

    fc1 = next(line for line in result.stdout.splitlines() if line.startswith("fc1.w"))
    assert "declared" in fc1.split()
    assert f"{120 * 400:,}" in fc1.split()
    total = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (120 * 400 + 120) + (84 * 120 + 84)
    total += 10 * 84 + 10
    assert f"{total:,} values known" in result.stdout


def test_cli_uses_the_files_input_statement_without_input_option(tmp_path):
    name = write(tmp_path, "lenet.lazy", "input (batch, 1, 28, 28)\n" + LENET_BODY)

    result = run(tmp_path, name)

    assert result.returncode == 0, result.stderr
    assert table_rows(result.stdout) == lenet_shapes(28)
    assert "output shape: (batch, 10)" in result.stdout.splitlines()


def test_cli_input_option_takes_the_place_of_the_files_input(tmp_path):
    name = write(tmp_path, "lenet.lazy", "input (batch, 1, 28, 28)\n" + LENET_BODY)

    result = run(tmp_path, name, "--input", "(n, 1, 32, 32)")

    assert result.returncode == 0, result.stderr
    # 32 -> 32 -> 16 -> 12 -> 6, so flatten gives 16 * 6 * 6 = 576 features.
    assert lenet_shapes(32)["fc1.weight"] == "(120, 576)"
    assert table_rows(result.stdout) == lenet_shapes(32)
    assert "output shape: (n, 10)" in result.stdout.splitlines()


def test_cli_without_any_input_shape_leaves_unknown_dimensions(tmp_path):
    name = write(tmp_path, "lenet.lazy", LENET_BODY)

    result = run(tmp_path, name)

    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert rows["0.weight"] == "(6, ?, 5, 5)"
    assert rows["fc1.weight"] == "(120, ?)"
    assert rows["fc1.bias"] == "(120,)"
    assert "output shape: unknown" in result.stdout


def test_cli_dtype_float64_doubles_the_bytes(tmp_path):
    name = write(tmp_path, "one.lazy", "dense 6 in=4\n")

    result = run(tmp_path, name, "--input", "(batch, 4)", "--dtype", "float64")

    assert result.returncode == 0, result.stderr
    bias = next(line for line in result.stdout.splitlines() if line.startswith("0.b"))
    assert bias.split()[2] == "float64"
    assert bias.endswith(f"{6 * 8} B")
    assert "output shape: (batch, 6)" in result.stdout.splitlines()


def test_cli_dsl_mistake_exits_nonzero_with_line_and_column(tmp_path):
    name = write(tmp_path, "typo.lazy", "conv2d 6 kernel=5\ndens 10 act=relu\n")

    result = run(tmp_path, name, "--input", "(batch, 1, 28, 28)")

    assert result.returncode != 0
    assert result.stdout == ""
    assert "LazyNetSyntaxError" in result.stderr
    assert "line 2, column 1" in result.stderr
    assert "    dens 10 act=relu\n    ^" in result.stderr  # the line and its caret
    assert "Did you mean 'dense'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_shape_error_names_the_layer_without_traceback(tmp_path):
    name = write(tmp_path, "fixed.lazy", "dense 5 in=20\n")

    result = run(tmp_path, name, "--input", "(batch, 30)")

    assert result.returncode != 0
    assert re.search(r"ShapeError: .*layer '0'.*20.*30", result.stderr)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "shape",
    [
        "(batch, 1, 28",  # unclosed
        "batch",  # not a tuple
        "(batch, -1)",  # negative dimension
        "(batch, 1.5)",  # not a whole number
        "(batch, {n})",  # a lookup: the command line has no namespace
        "(batch, 4)\ndense 3",  # a second statement smuggled in
        "",
    ],
)
def test_cli_bad_input_exits_2_with_usage(tmp_path, shape):
    name = write(tmp_path, "one.lazy", "dense 6\n")

    result = run(tmp_path, name, "--input", shape)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("usage: python -m lazymagic")
    assert "--input" in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_cli_missing_file_is_a_clean_error(tmp_path):
    result = run(tmp_path, "nowhere.lazy", "--input", "(batch, 4)")

    assert result.returncode == 2
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert "nowhere.lazy" in last
    assert "No such file" in last
    assert "Traceback" not in result.stderr


def test_cli_file_that_is_not_text_is_a_clean_error(tmp_path):
    (tmp_path / "binary.lazy").write_bytes(b"\xff\xfe\x00dense")

    result = run(tmp_path, "binary.lazy")

    assert result.returncode == 2
    assert "binary.lazy" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_shipped_lenet_example_runs_and_finds_the_flatten_size():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "lazymagic", str(root / "notebooks" / "lenet.lazy")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # 28x28 -> conv(5, pad 2) 28 -> pool 14 -> conv(5) 10 -> pool 5: 16*5*5 = 400
    assert re.search(r"fc1\.weight\s+\(120, 400\)", done.stdout)
    assert "output shape: (batch, 10)" in done.stdout
