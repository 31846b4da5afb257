"""Explore shapes outside a notebook.

    python -m lazymagic net.lazy --input "(batch, 1, 28, 28)"

reads a file written in the ``%%lazynet`` DSL, fills every shape from the input
shape alone (nothing is allocated), and prints the parameter table and the output
shape.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import LazyMagicError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lazymagic",
        description="Print the parameter table of a net written in the %%lazynet DSL.",
    )
    parser.add_argument("file", type=Path, help="a file holding a %%lazynet cell body")
    parser.add_argument(
        "--input",
        metavar="SHAPE",
        help='the input shape, e.g. "(batch, 1, 28, 28)"; without it, the file\'s '
        "own input statement (if any) is used",
    )
    parser.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default="float32",
        help="the parameters' dtype",
    )
    args = parser.parse_args(argv)

    from .dsl.build import build
    from .dsl.parser import parse
    from .engine.table import text_table

    try:
        text = args.file.read_text()
    except OSError as err:
        parser.error(f"cannot read {args.file}: {err.strerror}")
    except UnicodeDecodeError:
        parser.error(f"cannot read {args.file}: it is not UTF-8 text.")
    shape = None
    if args.input is not None:
        try:
            # A placeholder layer: a cell of nothing but its input does not parse.
            statements = parse(f"input {args.input}\nidentity")
            if len(statements) != 2:
                raise IndexError
            shape = build(statements, {}).input_shape
        except (LazyMagicError, IndexError):
            parser.error(
                f"--input {args.input!r} is not a shape; write it like "
                '"(batch, 1, 28, 28)" with ints, ? or names.'
            )
    try:
        # --input takes the place of the file's own input statement.
        net, file_shape = build(parse(text), {}, dtype=args.dtype)
        shape = shape if shape is not None else file_shape
        out = net.infer_shape(shape) if shape is not None else None
    except LazyMagicError as err:
        print(f"{args.file}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    params = net.collect_params()
    print(text_table(params.values(), title=f"{args.file}"))
    if shape is None or out is None:
        print(
            "\noutput shape: unknown (give --input, or an input statement in the file)"
        )
    else:
        from .engine.shapes import format_shape

        print(f"\ninput shape:  {format_shape(shape)}")
        print(f"output shape: {format_shape(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
