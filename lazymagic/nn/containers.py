"""Blocks that hold other blocks: Sequential, Residual, Repeat."""

from __future__ import annotations

import copy
from collections.abc import Iterator

import numpy as np

from ..engine.block import Block, Context, Plan, forward_of
from ..engine.shapes import Shape, agree, format_shape
from ..errors import InvalidValueError


def _check_blocks(blocks: tuple[object, ...], where: str) -> None:
    for b in blocks:
        if not isinstance(b, Block):
            raise InvalidValueError(
                f"{where} takes layers and blocks from lazymagic.nn, got {b!r}."
            )


class Sequential(Block):
    """Blocks applied one after another.

    >>> from lazymagic import nn
    >>> net = nn.Sequential()
    >>> net.add(nn.Dense(256, activation="relu"), nn.Dense(10))
    >>> net
    Sequential(
      (0): Dense(? -> 256, relu)
      (1): Dense(? -> 10)
    )
    """

    kind = "sequential"

    def __init__(self, *blocks: Block, label: str | None = None) -> None:
        super().__init__(label=label)
        self._children: list[Block] = []
        self.input_shape: Shape | None = None
        self.add(*blocks)

    def add(self, *blocks: Block) -> None:
        """Append blocks, in order."""
        _check_blocks(blocks, "Sequential.add")
        self._children.extend(blocks)
        try:
            self._adopt(list(blocks))  # names read '0.weight' at once
        except Exception:
            del self._children[len(self._children) - len(blocks) :]
            raise

    def children(self) -> list[tuple[str, Block]]:
        return [(b.label or str(i), b) for i, b in enumerate(self._children)]

    def __getitem__(self, key: int | str) -> Block:
        if isinstance(key, str):
            for step, child in self.children():
                if step == key:
                    return child
            raise KeyError(
                f"no child labelled '{key}'; the children are "
                f"{', '.join(s for s, _ in self.children()) or 'none'}."
            )
        return self._children[key]

    def __len__(self) -> int:
        return len(self._children)

    def __iter__(self) -> Iterator[Block]:
        return iter(self._children)

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        for child in self._children:
            shape = child._infer(shape, plan)
        return shape

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        for child in self._children:
            x = forward_of(child, x, ctx)
        return x

    def __repr__(self) -> str:
        if not self._children:
            return f"{type(self).__name__}()"
        lines = [f"{type(self).__name__}("]
        for step, child in self.children():
            inner = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({step}): {inner}")
        lines.append(")")
        return "\n".join(lines)


class Residual(Block):
    """Add the input (or ``shortcut(input)``) to the output of ``body``.

    The body's output must have the input's shape; a body that changes it needs
    a ``shortcut`` that maps the input to the same shape.
    """

    kind = "residual"

    def __init__(
        self,
        *body: Block,
        shortcut: Block | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(label=label)
        if not body:
            raise InvalidValueError("Residual needs at least one block in its body.")
        _check_blocks(body, "Residual")
        self.body = list(body)
        if shortcut is not None:
            _check_blocks((shortcut,), "Residual's shortcut")
            if not isinstance(shortcut, Sequential):
                shortcut = Sequential(shortcut)
        self.shortcut: Sequential | None = shortcut
        self._adopt(self.body + ([shortcut] if shortcut is not None else []))

    def children(self) -> list[tuple[str, Block]]:
        steps = [(b.label or str(i), b) for i, b in enumerate(self.body)]
        if self.shortcut is not None:
            steps.append(("shortcut", self.shortcut))
        return steps

    def __getitem__(self, index: int) -> Block:
        return self.body[index]

    def __len__(self) -> int:
        return len(self.body)

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        out = shape
        for child in self.body:
            out = child._infer(out, plan)
        skip = self.shortcut._infer(shape, plan) if self.shortcut else shape
        if not agree(out, skip):
            if self.shortcut is None:
                fix = (
                    "Add a shortcut: block that maps the input to the body's shape "
                    "(e.g. a 1×1 convolution with the body's channels and stride)."
                )
                what = f"changes the shape from {format_shape(shape)} to"
            else:
                fix = "Make the shortcut produce the body's shape."
                what = f"has a shortcut giving {format_shape(skip)} but a body giving"
            raise _residual_error(self, f"{what} {format_shape(out)}", fix)
        return out

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        skip = forward_of(self.shortcut, x, ctx) if self.shortcut else x
        out = x
        for child in self.body:
            out = forward_of(child, out, ctx)
        return out + skip

    def __repr__(self) -> str:
        lines = ["Residual("]
        for step, child in self.children():
            inner = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({step}): {inner}")
        lines.append(")")
        return "\n".join(lines)


def _residual_error(block: Block, text: str, fix: str):
    from ..errors import ShapeError

    line = f" (line {block.dsl_line} of the cell)" if block.dsl_line else ""
    where = (
        f"residual block '{block.path}'{line}" if block.path else "the residual block"
    )
    return ShapeError(
        f"{where} {text}, so its input cannot be added to its output.\n"
        f"No parameter was changed. {fix}"
    )


MAX_REPEAT = 10_000


class Repeat(Sequential):
    """``n`` copies of ``body``, each with parameters of its own.

    Copy ``i`` sits at step ``i``, so the copies' dotted names differ
    (``2.0.0.weight``, ``2.1.0.weight``). The blocks passed in become the first copy.
    """

    kind = "repeat"

    def __init__(self, n: int, *body: Block, label: str | None = None) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidValueError(f"Repeat needs a count of at least 1, got {n!r}.")
        if n > MAX_REPEAT:
            # Limitation: copies are Python objects; beyond this, declaring alone
            # would take minutes.
            raise InvalidValueError(
                f"Repeat allows at most {MAX_REPEAT:,} copies, got {n:,}; a count "
                "that large is most likely a typo."
            )
        _check_blocks(body, "Repeat")
        if not body:
            raise InvalidValueError("Repeat needs at least one block to repeat.")
        super().__init__(label=label)
        self.n = n
        first = Sequential(*body)
        # Ties to layers outside the body stay ties in every copy.
        inside = {id(b) for blk in body for b in blk._layers()}
        memo: dict[int, object] = {}
        for blk in body:
            for layer in blk._layers():
                if layer.share is not None and id(layer.share) not in inside:
                    memo[id(layer.share)] = layer.share
                    for p in layer.share._params.values():
                        memo[id(p)] = p
        copies = [first] + [copy.deepcopy(first, dict(memo)) for _ in range(n - 1)]
        self.add(*copies)

    def describe(self) -> str:
        return f"repeat {self.n}"
