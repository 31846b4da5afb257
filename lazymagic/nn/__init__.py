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
from .basic import Dropout as Dropout
from .basic import Embedding as Embedding
from .basic import Flatten as Flatten
from .containers import Repeat as Repeat
from .containers import Residual as Residual
from .containers import Sequential as Sequential
from .conv import Conv1D as Conv1D
from .conv import Conv2D as Conv2D
from .dense import Dense as Dense
from .norm import BatchNorm as BatchNorm
from .norm import LayerNorm as LayerNorm
from .pooling import AvgPool1D as AvgPool1D
from .pooling import AvgPool2D as AvgPool2D
from .pooling import GlobalAvgPool as GlobalAvgPool
from .pooling import GlobalAvgPool1D as GlobalAvgPool1D
from .pooling import GlobalAvgPool2D as GlobalAvgPool2D
from .pooling import MaxPool1D as MaxPool1D
from .pooling import MaxPool2D as MaxPool2D

__all__ = [
    "Block",
    "Sequential",
    "Residual",
    "Repeat",
    "Dense",
    "Conv1D",
    "Conv2D",
    "MaxPool1D",
    "MaxPool2D",
    "AvgPool1D",
    "AvgPool2D",
    "GlobalAvgPool",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "Flatten",
    "BatchNorm",
    "LayerNorm",
    "Dropout",
    "Embedding",
    "Activation",
    "LeakyReLU",
]
