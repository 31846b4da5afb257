"""The dashboard: a live parameter table with histograms, built on ipywidgets.

Only this package imports ipywidgets and matplotlib; ``lazymagic.show`` reaches it
lazily, so ``import lazymagic`` needs neither.
"""

from .dashboard import Dashboard, dashboard
from .histograms import histogram

__all__ = ["Dashboard", "dashboard", "histogram"]
