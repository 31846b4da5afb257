"""The IPython side: ``%%lazynet``, ``%lazyshow`` and the ``LazyMagic`` settings."""

from __future__ import annotations

import keyword
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Integer, TraitError, observe, validate

from . import init as _init
from .errors import LazyMagicError
from .options import _validate as _validate_option
from .options import options


@magics_class
class LazyMagic(Magics):
    """lazymagic's magics and settings.

    ``%config LazyMagic.max_param_bytes = N`` and ``%config
    LazyMagic.short_errors = False`` set the same values as
    ``lazymagic.options``.
    """

    max_param_bytes = Integer(
        None,
        allow_none=True,
        help="Refuse to materialize more than this many bytes at once "
        "(None: a fraction of the memory available).",
    ).tag(config=True)
    short_errors = Bool(
        True,
        help="Show lazymagic's errors as one message, without library frames.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.max_param_bytes = options.max_param_bytes
        self.short_errors = options.short_errors
        options.watch(self._from_options)

    @validate("max_param_bytes", "short_errors")
    def _check(self, proposal: dict[str, Any]) -> Any:
        # The same checks as lazymagic.options, so both always hold one value.
        name, value = proposal["trait"].name, proposal["value"]
        try:
            return _validate_option(name, value)
        except ValueError as err:
            raise TraitError(str(err)) from None

    @observe("max_param_bytes", "short_errors")
    def _to_options(self, change: dict[str, Any]) -> None:
        setattr(options, change["name"], change["new"])

    def _from_options(self, name: str, value: Any) -> None:
        if self.has_trait(name) and getattr(self, name) != value:
            setattr(self, name, value)

    @property
    def _namespace(self) -> dict[str, Any]:
        assert self.shell is not None, "magics are registered with a shell"
        return self.shell.user_ns  # type: ignore[no-any-return]

    @magic_arguments("%lazynet")  # IPython adds one "%": usage reads %%lazynet
    @argument("name", help="the variable the net is bound to")
    @argument(
        "--init",
        default=None,
        help="the initializer a later initialize() uses, e.g. xavier or normal(0.01)",
    )
    @argument("--seed", type=int, default=None, help="the seed initialize() uses")
    @argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="the parameters' dtype (float32 by default)",
    )
    @argument("--quiet", action="store_true", help="bind the net but display nothing")
    @cell_magic
    def lazynet(self, line: str, cell: str) -> None:
        """Declare a network without input sizes and bind it to NAME.

        One statement per line; ``#`` starts a comment; blocks are indented::

            input (batch, 1, 28, 28)         # optional: ints, ? or names
            conv2d 6 kernel=5 padding=2 act=sigmoid
            avgpool2d kernel=2 stride=2
            flatten
            fc1 = dense 120 act=relu          # a label names the layer
            dense 10 init=xavier
            residual:                         # also: repeat N:, sequential [label]:
                dense 10 act=relu

        Layers: dense, conv1d, conv2d, maxpool1d, maxpool2d, avgpool1d, avgpool2d,
        globalavgpool, flatten, batchnorm, layernorm, dropout, embedding, and the
        activations relu, sigmoid, tanh, gelu, softmax, leakyrelu, identity.
        Options are key=value (act=, in=, init=, bias=, kernel=, stride=,
        padding=, share=LABEL, ...); {name} looks up an integer in the
        namespace. The cell declares the net; call NAME.initialize() and pass
        data (or NAME.infer_shape(...)) to watch its parameters materialize.

        Example::

            %%lazynet net --seed 0
            dense 256 act=relu
            dense 10
        """
        __tracebackhide__ = True
        args = parse_argstring(self.lazynet, line)
        name = args.name
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(
                f"%%lazynet: '{name}' is not a valid Python variable name; write "
                "%%lazynet net (or another identifier)."
            )
        try:
            chosen = _init.parse(args.init)
        except ValueError as err:
            raise UsageError(f"%%lazynet --init: {err}") from None
        if args.seed is not None and args.seed < 0:
            raise UsageError("%%lazynet --seed: the seed must be zero or positive.")

        from .dsl.cell import build_cell

        net = build_cell(cell, namespace=self._namespace, dtype=args.dtype)
        net.default_init = chosen
        net.default_seed = args.seed
        self._namespace[name] = net  # bound only once everything succeeded
        if not args.quiet:
            from IPython.display import display

            display(_displayable(net))

    @line_magic
    def lazyshow(self, line: str) -> None:
        """Display the dashboard of a net: ``%lazyshow net``."""
        __tracebackhide__ = True
        name = line.strip()
        if not name:
            raise UsageError("%lazyshow needs the name of a net: %lazyshow net")
        if name not in self._namespace:
            raise UsageError(
                f"%lazyshow: no variable '{name}'; define it with %%lazynet {name} "
                "first."
            )
        from IPython.display import display

        from .engine.block import Block

        net = self._namespace[name]
        if not isinstance(net, Block):
            raise UsageError(
                f"%lazyshow: '{name}' is a {type(net).__name__}, not a lazymagic net."
            )
        display(_displayable(net))


def _displayable(net: Any) -> Any:
    """The dashboard; imported here, so loading the magics does not load widgets."""
    from .widgets import dashboard

    return dashboard(net)


def _short_error(
    shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None
) -> list[str]:
    """Show a lazymagic error as its message alone; the cell still fails.

    Sending the traceback through ``_showtraceback`` makes the kernel emit a
    real error output, which nbval, nbconvert and papermill all see.
    """
    if options.short_errors:
        stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
    else:
        stb = shell.InteractiveTB.structured_traceback(
            etype, value, tb, tb_offset=tb_offset
        )
    shell._showtraceback(etype, value, stb)
    return stb


_previous_custom_exc: dict[int, tuple[Any, Any]] = {}


def load(shell: Any) -> None:
    """Register the magics, the settings and the short error display."""
    magics = LazyMagic(shell=shell)
    shell.register_magics(magics)
    if magics not in shell.configurables:
        shell.configurables.append(magics)
    if id(shell) not in _previous_custom_exc:
        _previous_custom_exc[id(shell)] = (shell.custom_exceptions, shell.CustomTB)
    shell.set_custom_exc((LazyMagicError,), _short_error)


def unload(shell: Any) -> None:
    """Undo ``load``: restore the previous error display."""
    previous = _previous_custom_exc.pop(id(shell), None)
    if previous is not None:
        shell.custom_exceptions, shell.CustomTB = previous
    for magics in [c for c in shell.configurables if isinstance(c, LazyMagic)]:
        options.unwatch(magics._from_options)
        shell.configurables.remove(magics)
