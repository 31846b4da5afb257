"""The engine: parameters, states, shapes, and how blocks materialize."""

from .block import Block as Block
from .parameter import Parameter as Parameter
from .parameter import State as State
