"""The benchmark keeps working: a quick run with tiny sizes, and its comparisons.

No test here asserts a time; they check that every figure is measured (or says
why not), that ratios and verdicts follow from the numbers, and that each
benchmark compares like with like.
"""

import importlib.util
import json
import operator
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lazymagic import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import run  # noqa: E402

HAS_TORCH = importlib.util.find_spec("torch") is not None

EXPECTED_GROUPS = {
    "materialize": 4,
    "memory": 1,
    "mlp": 2,
    "lenet": 1,
    "infer_shape": 2,
    "dsl": 2,
    "dashboard": 2,
    "import": 1,
}
TORCH_FIGURES = {"torch LazyLinear", "torch", "torch on meta"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(path.read_text())


def test_quick_run_measures_every_figure_in_one_table(quick_run):
    stdout, document = quick_run
    groups = [row["group"] for row in document["rows"]]
    assert {g: groups.count(g) for g in set(groups)} == EXPECTED_GROUPS
    table_rows = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert len(table_rows) == 1 + sum(EXPECTED_GROUPS.values())  # with the header
    for row in document["rows"]:
        assert row["figure"] in stdout


def test_every_verdict_follows_from_its_numbers(quick_run):
    ops = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
    for row in quick_run[1]["rows"]:
        if row["status"].startswith("not measured"):
            continue
        if row["status"] == "info":  # a figure for the record, with no target
            assert not row["target"] and row["value"] > 0, row
            continue
        assert row["status"] in ("PASS", "MISS"), row
        assert row["value"] is not None and row["value"] > 0, row
        if row["reference_value"] is None:
            checked = row["value"]
        elif row["ratio_meaning"] == "× faster":
            checked = row["reference_value"] / row["value"]
        else:
            checked = row["value"] / row["reference_value"]
        if row["reference_value"] is not None:
            assert row["ratio"] == pytest.approx(checked), row
        assert row["value"] == pytest.approx(np.median(row["samples"])), row
        passed = ops[row["target_op"]](checked, row["target_bound"])
        if not row["note"].startswith(("outputs differ", "wrong shapes")):
            assert row["status"] == ("PASS" if passed else "MISS"), row


def test_pytorch_rows_are_measured_exactly_when_torch_is_installed(quick_run):
    for row in quick_run[1]["rows"]:
        if row["reference"] not in TORCH_FIGURES:
            continue
        if HAS_TORCH:
            assert row["status"] in ("PASS", "MISS"), row
            assert row["reference_value"] > 0
        else:
            assert row["status"] == "not measured: PyTorch not installed", row


def test_forward_comparisons_compute_the_same_outputs(quick_run):
    for row in quick_run[1]["rows"]:
        assert not row["note"].startswith(("outputs differ", "wrong shapes")), row


def test_bare_loop_computes_the_engines_shapes_for_the_resnet_spec():
    spec = run.resnet18_spec()
    net = nn.Sequential(*run.ours_from_spec(spec))
    params: list[tuple] = []
    out = run.bare_infer(spec, ("batch", 3, 224, 224), params)
    assert net.infer_shape(("batch", 3, 224, 224)) == out == ("batch", 1000)
    engine_shapes = [p.shape for p in net.collect_params().values()]
    assert sorted(engine_shapes) == sorted(params)
    # 20 convolutions (3 of them shortcuts) with a batch norm each, one dense layer.
    assert len(params) == 20 + 20 * 4 + 2


@pytest.mark.skipif(not HAS_TORCH, reason="compares with PyTorch's modules")
def test_torch_resnet_spec_has_the_engines_parameter_count():
    torch = pytest.importorskip("torch")
    spec = run.resnet18_spec()
    net = nn.Sequential(*run.ours_from_spec(spec))
    net.infer_shape((1, 3, 224, 224))
    ours = sum(
        int(np.prod(p.shape))
        for name, p in net.collect_params().items()
        if not name.endswith(("running_mean", "running_var"))
    )
    layers, _ = run.torch_from_spec(torch, spec, 3)
    theirs = sum(p.numel() for p in torch.nn.Sequential(*layers).parameters())
    assert ours == theirs == 11_689_512  # torchvision's resnet18


def test_lazynet_cell_has_the_requested_number_of_statements():
    text = run.lazynet_cell(1000)
    statements = [
        line for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert len(statements) == 1000
    assert not statements[-1].startswith(("residual", " "))


def test_table_numbers_footnotes_and_marks_unmeasured_rows():
    rows = [
        run.Row(
            "g",
            "a figure",
            "ms",
            "NumPy",
            value=2.0,
            reference_value=4.0,
            ratio=0.5,
            ratio_meaning="× time",
            target="≤ 1.1× time",
            target_op="<=",
            target_bound=1.1,
            checked=0.5,
            note="why",
        ).judge(),
        run.not_measured(run.Row("g", "another", "ms", "torch"), "no torch"),
    ]
    text = run.table(rows)
    lines = text.splitlines()
    assert "| a figure" in lines[2] and "NumPy: 4 ms" in lines[2]
    assert "0.5× time" in lines[2] and "PASS [1]" in lines[2]
    assert "not measured: no torch" in lines[3]
    assert lines[-1] == "[1] why"


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--repeat", "0"], "--repeat needs at least 1"),
        (["--only", ""], "--only needs group names"),
        (["--only", " , "], "--only needs group names"),
        (["--only", "mlp,nope"], "unknown group(s) nope"),
        (["--json", "{tmp}"], "is a directory"),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_measured(
    argv, says, tmp_path, capsys
):
    argv = [a.format(tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit) as stopped:
        run.main(["--quick", *argv])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err
