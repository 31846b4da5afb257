"""``import lazymagic`` stays light: ipywidgets and matplotlib load only when needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import numpy as np
import lazymagic
from lazymagic import init, nn
after_import = sorted(m for m in ("ipywidgets", "matplotlib") if m in sys.modules)
net = nn.Sequential(nn.Dense(4))
dashboard = lazymagic.show(net)
net.initialize(seed=0)
net(np.ones((1, 3), dtype=np.float32))
after_show = sorted(m for m in ("ipywidgets", "matplotlib") if m in sys.modules)
dashboard.select("0.weight")
after_pick = sorted(m for m in ("ipywidgets", "matplotlib") if m in sys.modules)
pyplot = "matplotlib.pyplot" in sys.modules
print(json.dumps([after_import, after_show, after_pick, pyplot]))
"""


def test_widgets_and_matplotlib_are_imported_only_when_used():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("MPLBACKEND", None)

    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )

    after_import, after_show, after_pick, pyplot = json.loads(result.stdout)
    assert after_import == []
    assert after_show == ["ipywidgets"]
    assert after_pick == ["ipywidgets", "matplotlib"]
    assert pyplot is False
