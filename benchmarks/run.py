"""Measure lazymagic against the physical limit and its peers, in one run.

Every figure is the median of several repetitions. Every reference is measured in
the same run, interleaved with lazymagic's own measurement (the order rotates from
one repetition to the next), so both see the same load on the machine. PyTorch is
optional: without it, its rows say "not measured".

Usage::

    python -m benchmarks.run [--quick] [--json PATH] [--repeat N] [--only NAMES]

``--quick`` uses tiny sizes (for the smoke test); its figures mean nothing.
"""

from __future__ import annotations

import argparse
import gc
import json
import operator
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, not only as python -m
    sys.path.insert(0, str(ROOT))

import lazymagic  # noqa: E402
from lazymagic import init, nn  # noqa: E402
from lazymagic.engine import events  # noqa: E402

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass
class Row:
    """One line of the table.

    ``value`` is lazymagic's figure in ``unit``; ``reference_value`` the
    reference's, in the same unit. The target applies to ``checked``: the ratio
    for comparisons, the value itself for absolute targets.
    """

    group: str
    figure: str
    unit: str
    reference: str = "–"
    value: float | None = None
    reference_value: float | None = None
    ratio: float | None = None
    ratio_meaning: str = ""
    target: str = ""
    target_op: str = ""
    target_bound: float = 0.0
    checked: float | None = None
    status: str = ""
    note: str = ""
    samples: list[float] = field(default_factory=list)
    reference_samples: list[float] = field(default_factory=list)

    def judge(self) -> Row:
        """Set ``status`` from ``checked`` and the target, unless already set."""
        if not self.status:
            passed = OPS[self.target_op](self.checked, self.target_bound)  # type: ignore[arg-type]
            self.status = "PASS" if passed else "MISS"
        return self


@dataclass
class Config:
    quick: bool
    repeat: int
    layers: int
    width: int
    batch: int
    # What torch rows say when torch is not used.
    no_torch: str = "PyTorch not installed"


# -- timing ----------------------------------------------------------------------


def clock(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes; its result is freed after the clock stops."""
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def per_call(fn: Callable[[], Any], calls: int) -> float:
    """Mean seconds per call over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def calls_for(fn: Callable[[], Any], budget: float = 0.02) -> int:
    """How many calls of ``fn`` fill about ``budget`` seconds (at least one)."""
    fn()  # warm up
    once = clock(fn)
    return max(1, min(10_000, int(budget / max(once, 1e-7))))


def interleaved(
    contenders: dict[str, Callable[[], float]], repeat: int, settle: float = 0.0
) -> dict[str, list[float]]:
    """One sample of every contender per repetition, in a rotating order.

    ``settle`` seconds of sleep before each sample let the BLAS and OpenMP worker
    threads of the previous one stop spinning, so they do not compete with it.
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for rep in range(repeat):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            time.sleep(settle)
            samples[name].append(contenders[name]())
    return samples


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def import_torch() -> Any | None:
    try:
        import torch
    except ImportError:
        return None
    return torch


def not_measured(row: Row, why: str) -> Row:
    row.status = f"not measured: {why}"
    return row


# -- materialization ------------------------------------------------------------


def dense_stack(cfg: Config, initializer: init.Initializer) -> nn.Sequential:
    """``layers`` dense layers of ``width`` units, initialized, still pending."""
    net = nn.Sequential(*(nn.Dense(cfg.width) for _ in range(cfg.layers)))
    net.initialize(init=initializer, seed=0)
    return net


def stack_values(cfg: Config) -> int:
    """Values in the stack's parameters: weights and biases."""
    return cfg.layers * (cfg.width * cfg.width + cfg.width)


def first_batch_seconds(make: Callable[[], Any], run: Callable[[Any], Any]) -> float:
    """What the first batch adds to a later one: the materialization's seconds."""
    model = make()
    first = clock(lambda: run(model))
    later = min(clock(lambda: run(model)) for _ in range(2))
    return max(first - later, 1e-9)


def bench_materialize(cfg: Config, torch: Any | None) -> list[Row]:
    n = stack_values(cfg)
    x = np.random.default_rng(0).random((1, cfg.width), dtype=np.float32)
    shape = f"{cfg.layers} dense {cfg.width}×{cfg.width}"
    generator = np.random.default_rng(0)
    # The references are the generator alone, drawing a new array of the same size
    # (so it pays the same allocation and page faults as lazymagic does), and, for
    # the record, filling an array that exists and was touched already.
    target = np.zeros(n, dtype=np.float32)
    contenders: dict[str, Callable[[], float]] = {
        "numpy uniform": lambda: clock(lambda: generator.random(n, dtype=np.float32)),
        "ours uniform": lambda: first_batch_seconds(
            lambda: dense_stack(cfg, init.Uniform()), lambda net: net(x)
        ),
        "numpy normal": lambda: clock(
            lambda: generator.standard_normal(n, dtype=np.float32)
        ),
        "ours xavier normal": lambda: first_batch_seconds(
            lambda: dense_stack(cfg, init.XavierNormal()), lambda net: net(x)
        ),
        "numpy uniform out=": lambda: clock(
            lambda: generator.random(out=target, dtype=np.float32)
        ),
    }
    if torch is not None:
        xt = torch.from_numpy(x)

        def lazy_linear_stack() -> Any:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "lazy modules are a new feature"
                layers = [torch.nn.LazyLinear(cfg.width) for _ in range(cfg.layers)]
            return torch.nn.Sequential(*layers)

        def torch_run(model: Any) -> Any:
            with torch.no_grad():
                return model(xt)

        torch_contender = {
            "torch LazyLinear": lambda: first_batch_seconds(
                lazy_linear_stack, torch_run
            )
        }
    # The first touch of fresh memory in a process (and in a virtual machine) is
    # far slower than later ones; pay it once, outside every measurement.
    np.ones(2 * n, dtype=np.float32)
    settle = 0.0 if cfg.quick else 0.3
    seconds = interleaved(contenders, cfg.repeat, settle)
    if torch is not None:
        # Torch runs after the others: the first NumPy allocation after torch has
        # freed its half gigabyte is about twice as slow (the kernel's huge pages
        # have to be found again), which would fall on whoever came next.
        seconds.update(interleaved(torch_contender, cfg.repeat, settle))
    rate = {k: [n / s / 1e6 for s in v] for k, v in seconds.items()}

    rows = []
    for figure, ours, ref, ref_text in (
        (
            f"materialize {shape}, uniform, first batch",
            "ours uniform",
            "numpy uniform",
            "NumPy Generator.random(n), 1 thread",
        ),
        (
            f"materialize {shape}, xavier normal, first batch",
            "ours xavier normal",
            "numpy normal",
            "NumPy standard_normal(n), 1 thread",
        ),
    ):
        row = Row(
            "materialize",
            figure,
            "M values/s",
            ref_text,
            value=median(rate[ours]),
            reference_value=median(rate[ref]),
            ratio_meaning="× rate",
            target="≥ 0.9× rate",
            target_op=">=",
            target_bound=0.9,
            samples=rate[ours],
            reference_samples=rate[ref],
        )
        row.ratio = row.checked = row.value / row.reference_value
        rows.append(row.judge())

    row = Row(
        "materialize",
        f"materialize {shape}, uniform, first batch",
        "M values/s",
        "NumPy random(out=) into a touched array",
        value=median(rate["ours uniform"]),
        samples=rate["ours uniform"],
        reference_value=median(rate["numpy uniform out="]),
        reference_samples=rate["numpy uniform out="],
        ratio_meaning="× rate",
        status="info",
        note="no page faults for NumPy here: a stricter comparison, no target",
    )
    row.ratio = row.value / row.reference_value
    rows.append(row)

    row = Row(
        "materialize",
        f"materialize {shape}, uniform, first batch",
        "M values/s",
        "torch LazyLinear",
        ratio_meaning="× rate",
        target="> 1× rate (faster)",
        target_op=">",
        target_bound=1.0,
        value=median(rate["ours uniform"]),
        samples=rate["ours uniform"],
    )
    if torch is None:
        rows.append(not_measured(row, cfg.no_torch))
    else:
        row.reference_value = median(rate["torch LazyLinear"])
        row.reference_samples = rate["torch LazyLinear"]
        row.ratio = row.checked = row.value / row.reference_value
        rows.append(row.judge())
    return rows


_MEMORY_SCRIPT = """
import json, sys
import numpy as np
from lazymagic import nn
layers, width = int(sys.argv[1]), int(sys.argv[2])
net = nn.Sequential(*(nn.Dense(width) for _ in range(layers)))
net.initialize(seed=0)
x = np.ones((1, width), dtype=np.float32)
def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
before = status("VmRSS")
try:  # reset the peak (VmHWM) to the current RSS, where the kernel allows it
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
net(x)
own = sum(p.data().nbytes for p in net.collect_params().values())
print(json.dumps({"before": before, "peak": status("VmHWM"), "own": own}))
"""


def bench_memory(cfg: Config) -> list[Row]:
    row = Row(
        "memory",
        f"peak resident memory added while materializing "
        f"{cfg.layers} dense {cfg.width}×{cfg.width}",
        "MiB",
        "parameters' bytes",
        ratio_meaning="× bytes",
        target="≤ 1.05× bytes",
        target_op="<=",
        target_bound=1.05,
        note="subprocess: peak RSS (VmHWM) at the first batch minus RSS before it"
        + (
            "; at --quick sizes the interpreter's own growth weighs, judge a full run"
            if cfg.quick
            else ""
        ),
    )
    if not Path("/proc/self/status").exists():
        return [not_measured(row, "needs /proc (Linux)")]
    added, own = [], 0
    for _ in range(min(cfg.repeat, 3)):
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_SCRIPT, str(cfg.layers), str(cfg.width)],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env=_child_env(),
        )
        result = json.loads(out.stdout)
        added.append((result["peak"] - result["before"]) / 2**20)
        own = result["own"]
    row.value, row.reference_value = median(added), own / 2**20
    row.samples = added
    row.ratio = row.checked = row.value / row.reference_value
    return [row.judge()]


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    env.update(extra)
    return env


# -- forward passes ---------------------------------------------------------------


def _torch_linear(torch: Any, layer: nn.Dense) -> Any:
    w = layer.weight.data()
    linear = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(w))
        linear.bias.copy_(torch.from_numpy(layer.bias.data()))
    return linear


def _torch_conv(torch: Any, layer: nn.Conv2D) -> Any:
    w = layer.weight.data()
    conv = torch.nn.Conv2d(
        w.shape[1],
        w.shape[0],
        layer.kernel_size,
        stride=layer.strides,
        padding=layer.padding,
    )
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w))
        conv.bias.copy_(torch.from_numpy(layer.bias.data()))
    return conv


def _torch_timer(torch: Any, model: Any, x: Any) -> Callable[[int], float]:
    def run(calls: int) -> float:
        with torch.inference_mode():
            return per_call(lambda: model(x), calls)

    return run


def _compare_forward(
    cfg: Config,
    ours: Callable[[], np.ndarray],
    others: dict[str, tuple[Callable[[], Any], Callable[[int], float]]],
) -> dict[str, list[float]]:
    """Per-call milliseconds of ``ours`` and each other (check, timer) pair.

    Samples of about 30 ms of back-to-back calls, alternating between the
    contenders, each after a pause: NumPy's BLAS threads and torch's OpenMP
    threads keep spinning for a while after a call, and would otherwise compete
    with whichever framework runs next.
    """
    quick = cfg.quick
    calls = calls_for(ours, 0.005 if quick else 0.03)
    contenders: dict[str, Callable[[], float]] = {
        "ours": lambda: per_call(ours, calls) * 1e3
    }
    for name, (_, timer) in others.items():
        contenders[name] = lambda timer=timer: timer(calls) * 1e3
    return interleaved(contenders, cfg.repeat * 4, settle=0.0 if quick else 0.15)


def _agrees(a: np.ndarray, b: Any) -> bool:
    return bool(np.allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5))


def bench_mlp(cfg: Config, torch: Any | None) -> list[Row]:
    rng = np.random.default_rng(0)
    x = rng.random((cfg.batch, 784), dtype=np.float32)
    net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))
    net.initialize(seed=0)
    net(x)
    w1, b1 = net[0].weight.data(), net[0].bias.data()
    w2, b2 = net[1].weight.data(), net[1].bias.data()

    def formula() -> np.ndarray:
        return np.maximum(x @ w1.T + b1, 0) @ w2.T + b2

    others: dict[str, tuple[Callable[[], Any], Callable[[int], float]]] = {
        "numpy": (formula, lambda calls: per_call(formula, calls)),
    }
    if torch is not None:
        model = torch.nn.Sequential(
            _torch_linear(torch, net[0]), torch.nn.ReLU(), _torch_linear(torch, net[1])
        )
        xt = torch.from_numpy(x)
        with torch.inference_mode():
            expected = model(xt).numpy()
        others["torch"] = (lambda: expected, _torch_timer(torch, model, xt))
    wrong = [k for k, (check, _) in others.items() if not _agrees(net(x), check())]
    ms = _compare_forward(cfg, lambda: net(x), others)

    figure = f"forward, MLP 784-256-10, batch {cfg.batch}"
    rows = []
    for name, text, bound in (
        ("numpy", "NumPy formula", 1.1),
        ("torch", "torch", 1.2),
    ):
        row = Row(
            "mlp",
            figure,
            "ms",
            text,
            value=median(ms["ours"]),
            samples=ms["ours"],
            ratio_meaning="× time",
            target=f"≤ {bound}× time",
            target_op="<=",
            target_bound=bound,
        )
        if name not in ms:
            rows.append(not_measured(row, cfg.no_torch))
            continue
        row.reference_value, row.reference_samples = median(ms[name]), ms[name]
        row.ratio = row.checked = row.value / row.reference_value
        if name in wrong:
            row.status = "MISS"
            row.note = f"outputs differ from {name}'s"
        rows.append(row.judge())
    return rows


def lenet() -> nn.Sequential:
    """LeNet as the tutorials declare it (sigmoid, average pooling)."""
    return nn.Sequential(
        nn.Conv2D(6, 5, padding=2, activation="sigmoid"),
        nn.AvgPool2D(2, 2),
        nn.Conv2D(16, 5, activation="sigmoid"),
        nn.AvgPool2D(2, 2),
        nn.Flatten(),
        nn.Dense(120, activation="sigmoid"),
        nn.Dense(84, activation="sigmoid"),
        nn.Dense(10),
    )


def bench_lenet(cfg: Config, torch: Any | None) -> list[Row]:
    row = Row(
        "lenet",
        f"forward, LeNet, batch {cfg.batch} of 1×28×28",
        "ms",
        "torch",
        ratio_meaning="× time",
        target="≤ 1.3× time",
        target_op="<=",
        target_bound=1.3,
    )
    x = np.random.default_rng(0).random((cfg.batch, 1, 28, 28), dtype=np.float32)
    net = lenet()
    net.initialize(init=init.Xavier(), seed=0)
    net(x)
    if torch is None:
        ms = _compare_forward(cfg, lambda: net(x), {})
        row.value, row.samples = median(ms["ours"]), ms["ours"]
        return [not_measured(row, cfg.no_torch)]
    t = torch.nn
    model = t.Sequential(
        _torch_conv(torch, net[0]),
        t.Sigmoid(),
        t.AvgPool2d(2, 2),
        _torch_conv(torch, net[2]),
        t.Sigmoid(),
        t.AvgPool2d(2, 2),
        t.Flatten(),
        _torch_linear(torch, net[5]),
        t.Sigmoid(),
        _torch_linear(torch, net[6]),
        t.Sigmoid(),
        _torch_linear(torch, net[7]),
    )
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        expected = model(xt).numpy()
    ms = _compare_forward(
        cfg,
        lambda: net(x),
        {"torch": (lambda: expected, _torch_timer(torch, model, xt))},
    )
    row.value, row.samples = median(ms["ours"]), ms["ours"]
    row.reference_value, row.reference_samples = median(ms["torch"]), ms["torch"]
    row.ratio = row.checked = row.value / row.reference_value
    if not _agrees(net(x), expected):
        row.status, row.note = "MISS", "outputs differ from torch's"
    return [row.judge()]


# -- shape inference ----------------------------------------------------------------

# A ResNet-18-like spec: (kind, *arguments); residuals hold (body, shortcut).
Spec = list[tuple[Any, ...]]


def resnet18_spec(classes: int = 1000) -> Spec:
    def conv_bn(channels: int, kernel: int, stride: int, padding: int) -> Spec:
        return [("conv", channels, kernel, stride, padding), ("bn",)]

    spec: Spec = [*conv_bn(64, 7, 2, 3), ("relu",), ("maxpool", 3, 2, 1)]
    channels_in = 64
    for channels, stride in (
        (64, 1),
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
    ):
        body = [
            *conv_bn(channels, 3, stride, 1),
            ("relu",),
            *conv_bn(channels, 3, 1, 1),
        ]
        shortcut = None
        if stride != 1 or channels != channels_in:
            shortcut = conv_bn(channels, 1, stride, 0)
        spec += [("residual", body, shortcut), ("relu",)]
        channels_in = channels
    return spec + [("globalavgpool",), ("flatten",), ("dense", classes)]


def ours_from_spec(spec: Spec) -> list[nn.Block]:
    layers: list[nn.Block] = []
    for kind, *args in spec:
        if kind == "conv":
            channels, kernel, stride, padding = args
            layers.append(
                nn.Conv2D(
                    channels, kernel, strides=stride, padding=padding, use_bias=False
                )
            )
        elif kind == "bn":
            layers.append(nn.BatchNorm())
        elif kind == "relu":
            layers.append(nn.Activation("relu"))
        elif kind == "maxpool":
            layers.append(nn.MaxPool2D(args[0], args[1], args[2]))
        elif kind == "residual":
            body, shortcut = args
            cut = nn.Sequential(*ours_from_spec(shortcut)) if shortcut else None
            layers.append(nn.Residual(*ours_from_spec(body), shortcut=cut))
        elif kind == "globalavgpool":
            layers.append(nn.GlobalAvgPool2D())
        elif kind == "flatten":
            layers.append(nn.Flatten())
        elif kind == "dense":
            layers.append(nn.Dense(args[0]))
    return layers


def torch_from_spec(torch: Any, spec: Spec, channels: int) -> tuple[list[Any], int]:
    t = torch.nn

    class Residual(t.Module):
        def __init__(self, body: Any, shortcut: Any) -> None:
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x: Any) -> Any:
            skip = x if self.shortcut is None else self.shortcut(x)
            return self.body(x) + skip

    layers: list[Any] = []
    for kind, *args in spec:
        if kind == "conv":
            out, kernel, stride, padding = args
            layers.append(t.Conv2d(channels, out, kernel, stride, padding, bias=False))
            channels = out
        elif kind == "bn":
            layers.append(t.BatchNorm2d(channels))
        elif kind == "relu":
            layers.append(t.ReLU())
        elif kind == "maxpool":
            layers.append(t.MaxPool2d(args[0], args[1], args[2]))
        elif kind == "residual":
            body, shortcut = args
            inner, out = torch_from_spec(torch, body, channels)
            cut = None
            if shortcut:
                cut = t.Sequential(*torch_from_spec(torch, shortcut, channels)[0])
            layers.append(Residual(t.Sequential(*inner), cut))
            channels = out
        elif kind == "globalavgpool":
            layers.append(t.AdaptiveAvgPool2d(1))
        elif kind == "flatten":
            layers.append(t.Flatten())
        elif kind == "dense":
            layers.append(t.Linear(channels, args[0]))
            channels = args[0]
    return layers, channels


def bare_infer(spec: Spec, shape: tuple[Any, ...], params: list[tuple]) -> tuple:
    """The size formulas alone: no checks, no parameters objects, no messages."""
    for kind, *args in spec:
        if kind == "conv":
            out, k, s, p = args
            n, c, h, w = shape
            params.append((out, c, k, k))
            shape = (n, out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif kind == "bn":
            params.extend([(shape[1],)] * 4)
        elif kind == "maxpool":
            k, s, p = args
            n, c, h, w = shape
            shape = (n, c, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif kind == "residual":
            body, shortcut = args
            out_shape = bare_infer(body, shape, params)
            if shortcut:
                bare_infer(shortcut, shape, params)
            shape = out_shape
        elif kind == "globalavgpool":
            shape = (shape[0], shape[1], 1, 1)
        elif kind == "flatten":
            shape = (shape[0], shape[1] * shape[2] * shape[3])
        elif kind == "dense":
            params.extend([(args[0], shape[1]), (args[0],)])
            shape = (shape[0], args[0])
    return shape


def bench_infer_shape(cfg: Config, torch: Any | None) -> list[Row]:
    spec = resnet18_spec()
    size = 32 if cfg.quick else 224
    symbolic = ("batch", 3, size, size)
    nets_per_sample = 3 if cfg.quick else 10

    def ours_sample() -> float:
        nets = [nn.Sequential(*ours_from_spec(spec)) for _ in range(nets_per_sample)]
        start = time.perf_counter()
        for net in nets:
            net.infer_shape(symbolic)
        return (time.perf_counter() - start) / len(nets) * 1e6

    def bare() -> tuple:
        return bare_infer(spec, symbolic, [])

    bare_calls = calls_for(bare, 0.01)
    contenders: dict[str, Callable[[], float]] = {
        "ours": ours_sample,
        "bare": lambda: per_call(bare, bare_calls) * 1e6,
    }
    wrong = []
    if torch is not None:
        with torch.device("meta"):
            model = torch.nn.Sequential(*torch_from_spec(torch, spec, 3)[0])
        x = torch.empty((32, 3, size, size), device="meta")

        def meta() -> Any:
            with torch.no_grad():
                return model(x)

        meta_calls = calls_for(meta, 0.02)
        contenders["torch meta"] = lambda: per_call(meta, meta_calls) * 1e6
        if tuple(meta().shape) != (32, 1000):
            wrong.append("torch meta")
    check = nn.Sequential(*ours_from_spec(spec))
    if check.infer_shape(symbolic) != bare() or bare() != ("batch", 1000):
        wrong.append("ours")
    us = interleaved(contenders, cfg.repeat * 3)

    figure = f"infer_shape, ResNet-18-like, input (batch, 3, {size}, {size})"
    ours_us = median(us["ours"])
    row_torch = Row(
        "infer_shape",
        figure,
        "µs",
        "torch on meta",
        value=ours_us,
        samples=us["ours"],
        ratio_meaning="× faster",
        target="≥ 50× faster",
        target_op=">=",
        target_bound=50,
        note="a freshly declared net each call",
    )
    if torch is None:
        row_torch = not_measured(row_torch, cfg.no_torch)
    else:
        row_torch.reference_value = median(us["torch meta"])
        row_torch.reference_samples = us["torch meta"]
        row_torch.ratio = row_torch.checked = row_torch.reference_value / ours_us
    row_bare = Row(
        "infer_shape",
        figure,
        "µs",
        "bare loop",
        value=ours_us,
        samples=us["ours"],
        reference_value=median(us["bare"]),
        reference_samples=us["bare"],
        ratio_meaning="× time",
        target="≤ 30× time",
        target_op="<=",
        target_bound=30,
    )
    row_bare.ratio = row_bare.checked = ours_us / row_bare.reference_value
    for row in (row_torch, row_bare):
        if wrong:
            row.status, row.note = "MISS", f"wrong shapes from {', '.join(wrong)}"
    return [row_torch.judge() if not row_torch.status else row_torch, row_bare.judge()]


# -- the DSL, the dashboard, the import -----------------------------------------------


def lazynet_cell(statements: int) -> str:
    """A ``%%lazynet`` body of ``statements`` statements, every kind of line."""
    lines = ["input (batch, 64)  # the input line counts as a statement"]
    cycle = [
        "dense 64 act=relu",
        "fc{i} = dense 64 act=tanh init=xavier",
        "layernorm",
        "dropout 0.1",
        "dense 64 init=normal(0.01) in=64",
        "relu",
        "residual:",
        "    dense 64 act=gelu",
        "    dense 64",
    ]
    i = 0
    while len(lines) < statements:
        lines.append(cycle[i % len(cycle)].format(i=i))
        i += 1
    while lines[-1].startswith("residual") or lines[-1].startswith("    "):
        lines.pop()  # never end on an unfinished block
    while len(lines) < statements:
        lines.append("dense 64")
    return "\n".join(lines) + "\n"


def bench_dsl(cfg: Config) -> list[Row]:
    statements = 100 if cfg.quick else 1000
    row = Row(
        "dsl",
        f"parse and build a {statements:,}-statement %%lazynet cell",
        "ms",
        target="< 50 ms",
        target_op="<",
        target_bound=50,
    )
    try:
        from lazymagic.dsl.build import build
        from lazymagic.dsl.parser import parse
    except ImportError as error:
        return [not_measured(row, f"DSL missing ({error})")]
    from lazymagic.dsl import parser

    text = lazynet_cell(statements)

    def once() -> Any:
        # Cold: the parser remembers each distinct line it has parsed, and a
        # cell run before would come back from that memory.
        parser._parse_code.cache_clear()
        return build(parse(text))

    once()  # the first parse builds Lark's tables
    ms = [clock(once) * 1e3 for _ in range(cfg.repeat * 2)]
    row.value, row.samples = median(ms), ms
    row.checked = row.value
    row.note = (
        f"{len(set(text.splitlines()))} distinct lines, none parsed before; "
        "lines alike but for their labels share one parse"
    )

    # The same when no line repeats (no target: for the record).
    distinct = Row(
        "dsl",
        f"the same with {statements:,} distinct lines, none parsed before",
        "ms",
        status="info",
    )
    # Each line differs beyond its label too (lines alike but for their labels
    # share one parse).
    unique = "input (batch, 64)\n" + "".join(
        f"l{i} = dense {64 + i} act=relu init=normal(0.0{i % 9 + 1})\n"
        for i in range(statements - 1)
    )

    def cold() -> Any:
        parser._parse_code.cache_clear()
        return build(parse(unique))

    ms = [clock(cold) * 1e3 for _ in range(cfg.repeat)]
    distinct.value, distinct.samples = median(ms), ms
    return [row.judge(), distinct]


def bench_dashboard(cfg: Config) -> list[Row]:
    layers = 10 if cfg.quick else 80
    rows = [
        Row(
            "dashboard",
            f"dashboard of a net of {2 * layers} parameters: shown",
            "ms",
            target="< 200 ms",
            target_op="<",
            target_bound=200,
            note="lazymagic.show(net) on a pending net",
        ),
        Row(
            "dashboard",
            f"dashboard of a net of {2 * layers} parameters: updated after a "
            "forward pass",
            "ms",
            target="< 200 ms",
            target_op="<",
            target_bound=200,
            note="time inside the engine's notify hook, around the dashboard",
        ),
    ]
    try:
        import ipywidgets  # noqa: F401

        from lazymagic.widgets import dashboard  # noqa: F401
    except ImportError as error:
        return [not_measured(row, f"dashboard missing ({error})") for row in rows]
    x = np.ones((8, 32), dtype=np.float32)
    shown, updated, failures = [], [], []
    for _ in range(cfg.repeat):
        net = nn.Sequential(*(nn.Dense(32, activation="relu") for _ in range(layers)))
        net.initialize(seed=0)
        marks: list[float] = []

        def before(changed: list[Any], marks: list[float] = marks) -> None:
            marks.append(time.perf_counter())

        def after(changed: list[Any], marks: list[float] = marks) -> None:
            marks.append(time.perf_counter())

        events.subscribe(before)
        try:
            start = time.perf_counter()
            board = lazymagic.show(net)
            shown.append((time.perf_counter() - start) * 1e3)
            events.subscribe(after)
            redraws = board.redraws
            marks.clear()
            net(x)
            updated.append((marks[-1] - marks[0]) * 1e3)
            if board.redraws == redraws:
                failures.append("the dashboard did not redraw")
            board.close()
        finally:
            events.unsubscribe(before)
            events.unsubscribe(after)
    for row, ms in zip(rows, (shown, updated), strict=True):
        row.value, row.samples, row.checked = median(ms), ms, median(ms)
        if failures and row is rows[1]:
            row.status, row.note = "MISS", failures[0]
        row.judge()
    return rows


_IMPORT_SCRIPT = (
    "import time; t = time.perf_counter(); import lazymagic; "
    "print(time.perf_counter() - t)"
)


def bench_import(cfg: Config) -> list[Row]:
    row = Row(
        "import",
        "import lazymagic in a fresh interpreter",
        "ms",
        target="< 150 ms",
        target_op="<",
        target_bound=150,
        note="subprocess, bytecode cached (as after any first import)",
    )
    with tempfile.TemporaryDirectory() as cache:
        env = _child_env(PYTHONPYCACHEPREFIX=cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        ms = []
        for attempt in range(cfg.repeat * 2 + 1):
            out = subprocess.run(
                [sys.executable, "-c", _IMPORT_SCRIPT],
                capture_output=True,
                text=True,
                check=True,
                cwd=tempfile.gettempdir(),
                env=env,
            )
            if attempt:  # the first run writes the bytecode cache
                ms.append(float(out.stdout) * 1e3)
    row.value, row.samples, row.checked = median(ms), ms, median(ms)
    return [row.judge()]


# -- the table ------------------------------------------------------------------------


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "–"
    return f"{row.ratio:.4g}{row.ratio_meaning}"


def spread(samples: Sequence[float]) -> str:
    """Half the interquartile range of the samples, as a ± share of their median."""
    if len(samples) < 4:
        return "–"
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return f"±{50 * (q3 - q1) / statistics.median(samples):.0f}%"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table, with the notes as numbered footnotes."""
    head = [
        "figure",
        "lazymagic",
        "spread",
        "reference, same run",
        "ratio",
        "target",
        "result",
    ]
    body, notes = [], []
    for row in rows:
        reference = row.reference
        if row.reference_value is not None:
            reference += f": {_number(row.reference_value, row.unit)}"
        status = row.status
        if row.note:
            notes.append(row.note)
            status += f" [{len(notes)}]"
        body.append(
            [
                row.figure,
                _number(row.value, row.unit),
                spread(row.samples),
                reference,
                _ratio(row),
                row.target,
                status,
            ]
        )
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        padded = (c.ljust(w) for c, w in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    lines = [line(head), rule, *(line(r) for r in body)]
    if notes:
        lines += ["", *(f"[{i}] {note}" for i, note in enumerate(notes, 1))]
    return "\n".join(lines)


GROUPS: dict[str, Callable[[Config, Any], list[Row]]] = {
    "materialize": bench_materialize,
    "memory": lambda cfg, torch: bench_memory(cfg),
    "mlp": bench_mlp,
    "lenet": bench_lenet,
    "infer_shape": bench_infer_shape,
    "dsl": lambda cfg, torch: bench_dsl(cfg),
    "dashboard": lambda cfg, torch: bench_dashboard(cfg),
    "import": lambda cfg, torch: bench_import(cfg),
}


def machine() -> dict[str, Any]:
    torch = import_torch()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
        "lazymagic": lazymagic.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, few runs")
    parser.add_argument("--json", metavar="PATH", help="also write the results here")
    parser.add_argument("--repeat", type=int, help="repetitions per figure")
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated groups among: {', '.join(GROUPS)}",
    )
    parser.add_argument(
        "--no-torch", action="store_true", help="skip PyTorch even if installed"
    )
    args = parser.parse_args(argv)
    chosen = list(GROUPS)
    if args.only is not None:
        # In the order given, each once; empty names between commas are ignored.
        chosen = list(dict.fromkeys(g.strip() for g in args.only.split(",")))
        chosen = [g for g in chosen if g]
        if not chosen:
            parser.error(f"--only needs group names among: {', '.join(GROUPS)}")
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        parser.error(
            f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}"
        )
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat needs at least 1")
    if args.quick:
        cfg = Config(True, args.repeat or 2, layers=2, width=1024, batch=16)
    else:
        cfg = Config(False, args.repeat or 7, layers=8, width=4096, batch=256)
    path = Path(args.json) if args.json else None
    if path is not None:  # fail now, not after minutes of measuring
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            parser.error(f"cannot write --json {args.json}: {error}")
        if path.is_dir():
            parser.error(f"--json {args.json} is a directory; give a file name")
        if not os.access(path if path.exists() else path.parent, os.W_OK):
            parser.error(f"cannot write --json {args.json}: permission denied")

    torch = None if args.no_torch else import_torch()
    if args.no_torch:
        cfg.no_torch = "PyTorch left out (--no-torch)"
    about = machine()
    if args.no_torch:
        about["torch"] = about["torch_threads"] = None
    load_before = load_average()
    started = time.perf_counter()
    rows: list[Row] = []
    for group in chosen:
        print(f"measuring {group}...", file=sys.stderr, flush=True)
        rows.extend(GROUPS[group](cfg, torch))
    seconds = time.perf_counter() - started
    load_after = load_average()

    print(table(rows))
    print(
        f"\n{about['platform']}, {about['cpus']} CPUs, Python {about['python']}, "
        f"NumPy {about['numpy']}, torch {about['torch'] or 'not used'}; "
        f"{'quick run' if cfg.quick else 'full run'}, medians of {cfg.repeat}+ "
        f"repetitions, {seconds:.0f} s; load average {load_before} before, "
        f"{load_after} after."
    )
    if path is not None:
        document = {
            "quick": cfg.quick,
            "repeat": cfg.repeat,
            "machine": about,
            "load_average": {"before": load_before, "after": load_after},
            "seconds": seconds,
            "rows": [asdict(row) for row in rows],
        }
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
