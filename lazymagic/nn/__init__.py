"""Layers and blocks, spelled as in MXNet Gluon.

>>> from lazymagic import nn
>>> net = nn.Sequential()
>>> net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
>>> net[0].weight.shape
(256, None)
"""

from ..engine.block import Block as Block
from .activations import Activation as Activation
from .activations import LeakyReLU as LeakyReLU
from .containers import Repeat as Repeat
from .containers import Residual as Residual
from .containers import Sequential as Sequential
from .dense import Dense as Dense

__all__ = [
    "Block",
    "Sequential",
    "Residual",
    "Repeat",
    "Dense",
    "Activation",
    "LeakyReLU",
]
