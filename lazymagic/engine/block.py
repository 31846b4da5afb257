"""Blocks: the tree of layers that owns the parameters, and how it materializes.

Every operation that can fill shapes (a forward pass, ``infer_shape``,
``initialize``) runs in two phases. The first walks the tree and *plans*: it works
out every parameter shape it reaches and checks every layer, changing nothing. Only
when the whole plan holds does the second phase commit it: set shapes, check the
memory limit, allocate and fill. A failure in either phase leaves every parameter
as it was.
"""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import init as _init
from ..errors import (
    DeferredInitializationError,
    InvalidValueError,
    LazyMagicError,
    LazyMagicWarning,
    MemoryLimitError,
    ShapeError,
)
from . import events, memory
from .parameter import Parameter, State, float_dtype
from .shapes import Shape, agree, format_shape, is_complete, normalize_shape

if TYPE_CHECKING:
    from .table import ParameterDict

logger = logging.getLogger(__name__)

Mismatch = Callable[[tuple[int | None, ...], tuple[int | None, ...]], str]

INFER_SHAPE_MEMORY_NOTE = (
    "infer_shape materializes pending parameters, as a forward pass does, so it is "
    "refused too. To see the sizes without allocating anything, call infer_shape "
    "on a net before initialize(): declare the net again, call "
    "net.infer_shape(shape), and print net.collect_params()."
)


class Plan:
    """The shapes one pass proposes, gathered before anything changes."""

    def __init__(self) -> None:
        self._shapes: dict[int, tuple[Parameter, tuple[int | None, ...], Block]] = {}
        self.reached: dict[int, Parameter] = {}
        # The last Flatten's output shape and the dimensions it flattened, so a
        # dense layer after it can say where its input size comes from.
        self.flattened: tuple[Shape, Shape] | None = None

    def fill(
        self,
        layer: Block,
        param: Parameter,
        shape: tuple[Any, ...],
        mismatch: Mismatch | None = None,
    ) -> None:
        """Propose ``shape`` for ``param``; symbolic dimensions count as unknown.

        Raises:
            ShapeError: the shape contradicts a known dimension (message from
                ``mismatch``) or what another layer sharing ``param`` proposed.
        """
        new = tuple(d if isinstance(d, int) else None for d in shape)
        key = id(param)
        self.reached[key] = param
        earlier = self._shapes.get(key)
        known = earlier[1] if earlier else param.shape
        if known == new:  # the common case, settled without a loop
            self._shapes[key] = (param, known, layer)
            return
        if len(known) == len(new):
            merged = tuple(
                n if k is None else k for k, n in zip(known, new, strict=True)
            )
            # Only unknown dimensions filled in: when every proposed dimension is
            # known, one comparison shows it.
            if merged == new or (None in new and agree(known, new)):
                self._shapes[key] = (param, merged, layer)
                return
        if earlier and earlier[2] is not layer:
            raise ShapeError(
                f"{earlier[2].where()} and {layer.where()} share parameter "
                f"'{param.name}', but the first needs shape "
                f"{format_shape(known)} and the second {format_shape(new)}.\n"
                "No parameter was changed. Tied layers must receive inputs of "
                "the same size."
            )
        if mismatch:
            raise ShapeError(mismatch(known, new))
        raise ShapeError(
            f"{layer.where()} needs parameter '{param.name}' to have shape "
            f"{format_shape(new)}, but it has {format_shape(known)}.\nNo parameter "
            "was changed. Pass an input that fits the sizes this layer was declared "
            "or materialized for."
        )

    def new_shapes(self) -> list[tuple[Parameter, tuple[int | None, ...]]]:
        """Parameters whose shape this plan fills in, with their new shapes."""
        return [(p, s) for p, s, _ in self._shapes.values() if s != p.shape]


class Context:
    """What a forward pass carries besides the data: the mode and deferred writes."""

    def __init__(self, training: bool) -> None:
        self.training = training
        self._rng: np.random.Generator | None = None
        self.updates: list[tuple[np.ndarray, np.ndarray]] = []

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng()
        return self._rng

    def defer_write(self, target: np.ndarray, value: np.ndarray) -> None:
        """Write ``value`` into ``target`` only if the whole pass succeeds."""
        self.updates.append((target, value))

    def commit(self) -> None:
        """Apply the deferred writes; an interruption midway undoes those done."""
        saved = [(target, target.copy()) for target, _ in self.updates]
        try:
            for target, value in self.updates:
                target[...] = value
        except BaseException:
            for target, old in saved:
                target[...] = old
            raise


class Block:
    """Base class of every layer and container.

    Args:
        label: a name for this block; its parameters' dotted names use it in place
            of the index (``fc1.weight``).
        share: another block of the same kind whose parameters this one reuses
            (every layer takes it; one without parameters has nothing to tie).
    """

    kind = "block"

    def __init__(self, *, label: str | None = None, share: Block | None = None) -> None:
        if label is not None and (not isinstance(label, str) or not label):
            raise InvalidValueError(
                f"a label must be a non-empty string, got {label!r}."
            )
        if label is not None and label.isdigit():
            raise InvalidValueError(
                f"label '{label}' is a number, which would clash with the indices "
                "in dotted names; start it with a letter."
            )
        if label is not None and "." in label:
            raise InvalidValueError(
                f"label '{label}' contains '.', which separates the steps of dotted "
                "names; choose a label without it."
            )
        if share is not None and type(share) is not type(self):
            raise InvalidValueError(
                f"a {self.kind} layer can only share parameters with another "
                f"{self.kind} layer, not with {share!r}."
            )
        self.label = label
        self.share = share
        self.path = label or ""
        self.dsl_line: int | None = None
        self._parent: weakref.ref[Block] | None = None
        # The root and tree version the names were last given under, and this
        # block's tree version (moved by every adoption below it).
        self._named_for: tuple[Any, int] | None = None
        self._tree_version = 0
        self._fast: tuple[Any, ...] | None = None  # see __call__
        self._params: dict[str, Parameter] = {}
        # Defaults a later initialize() uses; the magic's --init and --seed set them.
        self.default_init: _init.Initializer | None = None
        self.default_seed: int | None = None

    # -- building ------------------------------------------------------------------

    def _declare(
        self,
        name: str,
        shape: Shape,
        init: _init.Initializer | None = None,
        dim_names: tuple[str, ...] | None = None,
        hint: tuple[str, str] = ("in_units=20", "20"),
    ) -> Parameter:
        """Create a parameter (or take the shared block's) and register it."""
        if self.share is not None:
            param = self.share._params[name]
            new = tuple(d if isinstance(d, int) else None for d in shape)
            if not agree(new, param.shape):
                raise ShapeError(
                    f"this {self.describe()} layer shares '{name}' with "
                    f"{self.share.describe()}, whose shape is "
                    f"{format_shape(param.shape)}; this layer declares "
                    f"{format_shape(new)}.\nDeclare the same sizes for tied layers."
                )
        else:
            param = Parameter(name, shape, init=init, dim_names=dim_names)
            param.hint_keyword, param.hint_example = hint
        self._params[name] = param
        return param

    def children(self) -> list[tuple[str, Block]]:
        """The child blocks, each with the step it adds to dotted names."""
        return []

    def describe(self) -> str:
        """A short DSL-like description for messages, such as ``dense 256``."""
        return self.kind

    def where(self) -> str:
        """How messages name this block: ``layer '0' (dense 256)``, with the cell
        line when the block came from a ``%%lazynet`` cell."""
        what = self.describe()
        if self.dsl_line is not None:
            what += f", line {self.dsl_line} of the cell"
        if self.path:
            return f"layer '{self.path}' ({what})"
        return f"the {what} layer"

    # -- naming --------------------------------------------------------------------

    def _adopt(self, children: list[Block]) -> None:
        """Make this block the parent of ``children`` and check that no two of its
        children share a step in the dotted names."""
        seen: set[str] = set()
        clash = []
        for step, _ in self.children():
            if step in seen:
                clash.append(step)
            seen.add(step)
        if clash:
            raise InvalidValueError(
                f"two children of this {self.describe()} block would both be named "
                f"'{clash[0]}', so their parameters' dotted names would collide.\n"
                "Give each child a label of its own (labels must differ from each "
                "other and from 'shortcut')."
            )
        for child in children:
            child._parent = weakref.ref(self)
        events.touch()  # a new child: no earlier plan holds
        self._root()._tree_version += 1
        self._assign_names()

    def _root(self) -> Block:
        block = self
        while block._parent is not None and (parent := block._parent()) is not None:
            block = parent
        return block

    def _assign_names(self) -> None:
        """Give every block its path and every parameter its dotted name.

        Names run from the outermost block that holds this one, so ``net[0]``'s
        weight is ``0.weight`` whichever block an operation is called on; a tied
        parameter keeps the first name it is reached under.
        """
        root = self._root()
        stamp = (weakref.ref(root), root._tree_version)
        if root._named_for == stamp:
            return  # the same tree as at the last walk
        seen: set[int] = set()

        def walk(block: Block, path: str) -> None:
            block.path = path
            block._named_for = None  # only the root's stamp counts
            for local, param in block._params.items():
                if id(param) not in seen:
                    seen.add(id(param))
                    param.name = f"{path}.{local}" if path else local
            for step, child in block.children():
                walk(child, f"{path}.{step}" if path else step)

        walk(root, "")
        root._named_for = stamp

    # Parents are weak references: dropped when copying or pickling, and restored
    # by each container for its own children.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_parent"] = None
        state["_named_for"] = state["_fast"] = None  # caches are rebuilt, not copied
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for _, child in self.children():
            child._parent = weakref.ref(self)

    def _unique_params(self) -> Iterator[Parameter]:
        seen: set[int] = set()

        def walk(block: Block) -> Iterator[Parameter]:
            for param in block._params.values():
                if id(param) not in seen:
                    seen.add(id(param))
                    yield param
            for _, child in block.children():
                yield from walk(child)

        return walk(self)

    def _layers(self) -> Iterator[Block]:
        yield self
        for _, child in self.children():
            yield from child._layers()

    def collect_params(self) -> ParameterDict:
        """Return every parameter under its dotted name, in order; tied ones once.

        The result prints as a table and has an HTML form for notebooks.
        """
        from .table import ParameterDict

        self._assign_names()
        return ParameterDict((p.name, p) for p in self._unique_params())

    # -- the three operations ------------------------------------------------------

    def initialize(
        self,
        init: _init.Initializer | str | None = None,
        seed: int | None = None,
        force_reinit: bool = False,
    ) -> None:
        """Choose and record the initializer of every parameter.

        Parameters whose shape is known get their values at once; the others
        become pending and materialize when the input size is known.

        Args:
            init: the initializer for parameters that have none of their own
                (biases keep zeros, batch-norm scales ones). Defaults to the
                ``--init`` of the ``%%lazynet`` cell, else ``Uniform(0.07)``.
            seed: with a seed, each parameter's values depend only on the seed and
                its dotted name. Defaults to the cell's ``--seed``, else fresh.
            force_reinit: redraw parameters that already have values. Without it
                they keep their values, with a warning unless this call asks for
                the same initializer and seed that made them.

        Raises:
            MemoryLimitError: the parameters that would materialize now exceed
                ``lazymagic.options.max_param_bytes``; nothing changes.
        """
        __tracebackhide__ = True
        chosen = _init.parse(init) or self.default_init or _init.Uniform()
        if seed is None:
            seed = self.default_seed
        if seed is not None:
            if isinstance(seed, bool) or not hasattr(seed, "__index__"):
                raise InvalidValueError(
                    f"seed must be an int, got {seed!r}; for example seed=0."
                )
            seed = int(seed.__index__())  # NumPy integers too
        if seed is not None and seed < 0:
            raise InvalidValueError(f"seed must be zero or positive, got {seed}.")
        fresh = int(np.random.SeedSequence().entropy) if seed is None else seed  # type: ignore[arg-type]
        self._assign_names()

        kept, plans = [], []
        for param in self._unique_params():
            param_init = param.own_init or chosen
            if param.state is State.MATERIALIZED and not force_reinit:
                # Asking again for exactly what made the values is no conflict
                # (a tied parameter reached from a second net, a re-run cell).
                if param.init != param_init or seed is None or param.seed != seed:
                    kept.append(param)
                continue
            param_seed = (
                seed
                if seed is not None
                else param.seed
                if param.seed is not None and force_reinit
                else fresh
            )
            if param.is_complete:  # a wrong initializer fails here, before any change
                param_init.describe(param.shape, param.name)  # type: ignore[arg-type]
            plans.append((param, param_init, param_seed))
        memory.check([p for p, _, _ in plans if p.is_complete])

        changed = []
        with _Rollback([p for p, _, _ in plans]):
            for param, param_init, param_seed in plans:
                param.init, param.seed = param_init, param_seed
                if param.is_complete:
                    param.materialize()
                else:
                    param.state = State.PENDING
                changed.append(param)
        events.notify(changed)
        if kept:
            names = ", ".join(f"'{p.name}'" for p in kept)
            warnings.warn(
                f"{len(kept)} parameter(s) already have values and were kept: "
                f"{names}.\nPass force_reinit=True to draw them again.",
                LazyMagicWarning,
                stacklevel=2,
            )

    def infer_shape(self, shape: Any) -> Shape:
        """Fill every parameter shape from an input shape alone, computing nothing.

        Dimensions may be ints, names (``"batch"``) or ``None``. Declared
        parameters get their shapes and stay declared; pending ones whose shape
        becomes complete materialize, as in a forward pass.

        Returns:
            The output shape, with the input's names kept.

        >>> from lazymagic import nn
        >>> net = nn.Sequential(nn.Dense(256, activation="relu"), nn.Dense(10))
        >>> net.infer_shape(("batch", 20))
        ('batch', 10)
        >>> net[0].weight.shape
        (256, 20)
        """
        __tracebackhide__ = True
        dims = normalize_shape(shape, "the input shape")
        self._assign_names()
        plan = Plan()
        out = self._infer(dims, plan)
        self._commit(plan, run=None)
        return out

    def __call__(self, x: npt.ArrayLike, training: bool = False) -> np.ndarray:
        """Run a forward pass; the first one materializes the pending parameters.

        Raises:
            ShapeError: the input does not fit a layer; nothing changes.
            DeferredInitializationError: ``initialize()`` was never called.
        """
        __tracebackhide__ = True
        data = _as_input(x)
        ctx = Context(training)
        if self._fast == (data.shape, events.changes()):
            # Every parameter was materialized by a call with this input shape and
            # nothing changed since, so planning would find exactly the same.
            result = forward_of(self, data, ctx)
            ctx.commit()
            return result
        self._assign_names()
        plan = Plan()
        self._infer(tuple(data.shape), plan)
        result = self._commit(plan, run=lambda: forward_of(self, data, ctx), ctx=ctx)
        if all(p.state is State.MATERIALIZED for p in self._unique_params()):
            self._fast = (data.shape, events.changes())
        return result

    def _commit(
        self,
        plan: Plan,
        run: Callable[[], np.ndarray] | None,
        ctx: Context | None = None,
    ) -> Any:
        """Second phase: apply a checked plan, run, and undo everything on failure."""
        if run is not None:
            never = [p for p in plan.reached.values() if p.state is State.DECLARED]
            if never:
                names = ", ".join(f"'{p.name}'" for p in never[:4])
                more = f" and {len(never) - 4} more" if len(never) > 4 else ""
                raise DeferredInitializationError(
                    f"the net was never initialized: parameters {names}{more} have "
                    "no initializer yet.\nCall net.initialize() before passing data."
                )
        updates = plan.new_shapes()
        shapes = {id(p): s for p, s in updates}
        ready = [p for p, s in updates if p.state is State.PENDING and is_complete(s)]
        for param in ready:  # check initializers against their final shapes
            param.init.describe(shapes[id(param)], param.name)  # type: ignore[union-attr,arg-type]
        memory.check(
            ready,
            shapes=shapes,
            note="" if run is not None else INFER_SHAPE_MEMORY_NOTE,
        )

        touched = [p for p, _ in updates]
        result = None
        with _Rollback(touched):
            for param, new_shape in updates:
                param.shape = new_shape
            for param in ready:
                param.materialize()
            if run is not None:
                result = run()
                if ctx is not None:
                    ctx.commit()
        events.notify(touched)
        if run is not None:
            self._warn_unreached(plan)
        return result

    def _warn_unreached(self, plan: Plan) -> None:
        missed = [
            p
            for p in self._unique_params()
            if id(p) not in plan.reached and p.state is not State.MATERIALIZED
        ]
        if missed:
            names = ", ".join(f"'{p.name}'" for p in missed)
            warnings.warn(
                f"the forward pass never reached {names}, so they are still "
                f"{missed[0].state.value}.\nCheck that every layer is used, or give "
                "them their input size another way.",
                LazyMagicWarning,
                stacklevel=4,  # _warn_unreached, _commit, __call__, the user's line
            )

    # -- what layers implement -----------------------------------------------------

    def _infer(self, shape: Shape, plan: Plan) -> Shape:
        """Check ``shape`` against this block, propose parameter shapes, and return
        the output shape, without computing anything."""
        raise NotImplementedError(f"{type(self).__name__} does not infer shapes")

    def _forward(self, x: np.ndarray, ctx: Context) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no forward pass")

    # -- persistence ---------------------------------------------------------------

    def save_parameters(self, path: str) -> None:
        """Write every materialized parameter to an ``.npz`` file (no pickle)."""
        from .storage import save

        self._assign_names()
        save(self, path)

    def load_parameters(self, path: str) -> None:
        """Read parameters from ``.npz``; fills unknown shapes, checks known ones."""
        from .storage import load

        self._assign_names()
        load(self, path)

    def cast(self, dtype: npt.DTypeLike) -> None:
        """Change every parameter's dtype (and its values, if they exist)."""
        dtype = float_dtype(dtype)
        for param in self._unique_params():
            param.dtype = dtype
            if param._data is not None:
                param._data = param._data.astype(dtype)
        events.touch()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Rollback:
    """Restore parameters' shape, state, values and seed if the block raises."""

    def __init__(self, params: list[Parameter]) -> None:
        self._saved = [(p, p.shape, p.state, p._data, p.init, p.seed) for p in params]

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, error: BaseException | None, tb: Any) -> None:
        if kind is not None:
            for p, shape, state, data, init, seed in self._saved:
                p.shape, p.state, p._data, p.init, p.seed = (
                    shape,
                    state,
                    data,
                    init,
                    seed,
                )
            logger.debug("rolled back %d parameters after %s", len(self._saved), kind)


def _as_input(x: npt.ArrayLike) -> np.ndarray:
    """Turn the user's input into an array, refusing what is not numbers."""
    if isinstance(x, np.ma.MaskedArray):
        raise InvalidValueError(
            "the input is a masked array; a net cannot tell what its masked values "
            "should be.\nPass x.filled(value) to choose them, or x.data to use the "
            "values underneath the mask."
        )
    if isinstance(x, np.ndarray):
        data = x
    else:
        try:
            data = np.asarray(x)
        except ValueError as err:  # ragged lists
            raise ShapeError(
                f"the input could not become an array ({err}).\n"
                "Pass a NumPy array, or nested lists whose rows have equal length."
            ) from None
    if data.dtype.kind not in "biuf":
        raise InvalidValueError(
            f"the input holds {data.dtype} values; a net takes numbers.\n"
            "Pass a numeric NumPy array, e.g. X.astype(np.float32)."
        )
    if data.ndim == 0:
        raise ShapeError(
            "the input is a single number; a net takes a batch.\n"
            "Pass an array whose first axis is the batch, e.g. X.reshape(1, -1)."
        )
    return data


def forward_of(block: Block, x: np.ndarray, ctx: Context) -> np.ndarray:
    """``block._forward(x, ctx)``, naming the block if NumPy runs out of memory."""
    try:
        return block._forward(x, ctx)
    except (MemoryError, ValueError) as error:
        # NumPy says "array is too big" (a ValueError) for an array larger than
        # the address space, and MemoryError for one the system refuses.
        if isinstance(error, LazyMagicError) or not (
            isinstance(error, MemoryError) or str(error).startswith("array is too big")
        ):
            raise  # an inner block already said where, or another error
        raise MemoryLimitError(
            f"{block.where()} ran out of memory computing its output for an input "
            f"of shape {format_shape(x.shape)}: {error}.\nNo parameter was "
            "changed. Pass a smaller batch or smaller inputs."
        ) from None


def layer_error(layer: Block, text: str, hint: str) -> ShapeError:
    """A ShapeError that names ``layer`` and says what to do."""
    return ShapeError(f"{layer.where()} {text}\n{hint}".rstrip())


__all__ = ["Block", "Plan", "Context", "forward_of", "layer_error"]
