"""Saving parameters to ``.npz`` files and loading them back, all or nothing.

A parameter file is an ordinary uncompressed ``.npz`` archive: one array per
dotted name (a tied parameter once, under its first name), plus one small entry,
``__lazymagic_format__``, a string that marks the file as written by
``save_parameters``. Nothing is pickled, and files are read with
``allow_pickle=False``.

Loading also accepts a plain ``.npz`` without the marker (say, written by
``np.savez(path, **arrays)``) when its names are exactly the net's dotted names:
its arrays are checked like any others. The marker only lets messages say whether
a file came from lazymagic, and lets a later format be told apart.

Saving writes to a temporary file in the same directory and renames it over the
target, so a failure never leaves a half-written file. Loading reads and checks
everything (names, dtypes, shapes against every known dimension, the memory
limit) before it changes any parameter.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import secrets
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DeferredInitializationError, ParameterFileError, ShapeError
from . import events, memory
from .parameter import Parameter, State
from .shapes import agree, format_shape

if TYPE_CHECKING:
    from .block import Block

logger = logging.getLogger(__name__)

FORMAT_KEY = "__lazymagic_format__"
FORMAT_NAME = "lazymagic parameters"
FORMAT_VERSION = 1

# How many names a message lists before it says "and N more".
SHOWN = 8

# How an .npz (a zip archive, empty or not) and a single .npy array begin.
ZIP_MAGIC = b"PK"
NPY_MAGIC = b"\x93NUMPY"

# What a damaged or foreign file raises inside zipfile and numpy's reader.
READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError)


def save(block: Block, path: str | os.PathLike[str]) -> None:
    """Write every parameter of ``block`` to ``path`` as ``.npz``.

    The file is written exactly at ``path`` (no suffix is added). Every parameter
    must be materialized; otherwise nothing is written.

    Raises:
        DeferredInitializationError: a parameter has no values yet.
        ParameterFileError: the file cannot be written (the directory is missing
            or not writable); any earlier file at ``path`` is left as it was.
    """
    target = os.fspath(path)
    params = block.collect_params()
    waiting = [p for p in params.values() if p.state is not State.MATERIALIZED]
    if waiting:
        described = [
            f"'{p.name}' ({p.state.value}, shape {format_shape(p.shape)})"
            for p in waiting[:SHOWN]
        ]
        more = f" and {len(waiting) - SHOWN} more" if len(waiting) > SHOWN else ""
        raise DeferredInitializationError(
            f"cannot save: {', '.join(described)}{more} "
            f"{'has' if len(waiting) == 1 else 'have'} no values yet; nothing was "
            f"written to '{target}'.\n"
            "Only materialized parameters can be saved. Call net.initialize() if "
            "you have not, then pass a batch through the net (net(X)) or give it "
            "an input shape (net.infer_shape(...)) before saving."
        )
    arrays: dict[str, np.ndarray] = {n: p._data for n, p in params.items()}  # type: ignore[misc]
    arrays[FORMAT_KEY] = np.array(f"{FORMAT_NAME} {FORMAT_VERSION}")
    _write_atomically(target, arrays)
    logger.debug("saved %d parameters to %s", len(params), target)


def load(block: Block, path: str | os.PathLike[str]) -> None:
    """Read parameters from ``path`` into ``block``, all or nothing.

    Unknown dimensions (of declared or pending parameters) are taken from the
    file; known ones must agree with it. Every parameter becomes materialized, and
    the state-change hook is told once.

    Raises:
        ParameterFileError: no file, not a parameter file (or a truncated or
            damaged one), names that do not match the net, or values whose dtype
            the parameter cannot hold without loss.
        ShapeError: a shape in the file contradicts a known dimension.
        MemoryLimitError: the values would pass the memory limit.
    """
    from .block import _Rollback  # late import: block imports this module lazily

    source = os.fspath(path)
    params = block.collect_params()
    with _open(source) as npz:
        headers = _headers(npz, source)
        marked = FORMAT_KEY in headers
        if marked:
            _check_marker(npz, source)
            del headers[FORMAT_KEY]
        _check_names(list(params), list(headers), source, marked)
        _check_dtypes(params, headers, source)
        _check_shapes(params, headers, source)
        shapes: dict[int, tuple[int | None, ...]] = {
            id(params[n]): shape for n, (shape, _) in headers.items()
        }
        memory.check(list(params.values()), shapes=shapes)
        values = _read_values(npz, params, source)

    with _Rollback(list(params.values())):
        for name, param in params.items():
            value = values[name]
            param.shape = tuple(value.shape)
            param._data = value
            param.state = State.MATERIALIZED
    events.notify(params.values())
    logger.debug("loaded %d parameters from %s", len(params), source)


# -- writing -----------------------------------------------------------------------


def _write_atomically(target: str, arrays: dict[str, np.ndarray]) -> None:
    """Write an uncompressed ``.npz`` next to ``target``, then rename it over it."""
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise ParameterFileError(
            f"cannot save to '{target}': the directory '{directory}' does not "
            "exist; nothing was written.\nCreate the directory first, or choose "
            "another path."
        )
    temp = os.path.join(
        directory, f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp"
    )
    try:
        # os.open with mode 0o666 lets the umask decide the permissions, as a
        # plain open() would.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, array in arrays.items():
                    with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(err, OSError):
            raise ParameterFileError(
                f"cannot save to '{target}': {err.strerror or err}; nothing was "
                "written and any earlier file there is unchanged.\nCheck that the "
                "path is a writable file location."
            ) from err
        raise


# -- reading -----------------------------------------------------------------------


@contextlib.contextmanager
def _open(source: str) -> Iterator[np.lib.npyio.NpzFile]:
    """Open a parameter file for reading, or say plainly what it is instead."""
    if not os.path.exists(source):
        raise ParameterFileError(
            f"there is no parameter file at '{source}'; nothing was loaded.\n"
            "Check the path; net.save_parameters(path) writes such a file."
        )
    if os.path.isdir(source):
        raise ParameterFileError(
            f"'{source}' is a directory, not a parameter file; nothing was loaded.\n"
            "Give the path of a file written by net.save_parameters(path)."
        )
    try:
        with open(source, "rb") as f:
            start = f.read(len(NPY_MAGIC))
    except OSError as err:
        raise _unreadable(source, err) from None
    if not start.startswith(ZIP_MAGIC) and start != NPY_MAGIC:
        what = "is empty" if not start else "starts with other bytes"
        raise ParameterFileError(
            f"'{source}' is not a parameter file: an .npz archive (a zip file) was "
            f"expected, but the file {what}. Nothing was loaded.\nGive the path of "
            "a file written by net.save_parameters(path)."
        )
    if start == NPY_MAGIC:
        raise ParameterFileError(
            f"'{source}' holds a single array (a .npy file), not named parameters; "
            "nothing was loaded.\nLoad a .npz file written by "
            "net.save_parameters(path)."
        )
    with open(source, "rb") as f:
        # np.load is given the open file, so the file is closed here even when
        # the archive turns out to be damaged.
        try:
            npz = np.load(f, allow_pickle=False)
        except READ_ERRORS as err:
            raise _unreadable(source, err) from None
        with npz:
            yield npz


def _unreadable(source: str, err: BaseException) -> ParameterFileError:
    return ParameterFileError(
        f"'{source}' is not a readable parameter file: it is not an .npz archive, "
        f"or it is truncated or damaged ({type(err).__name__}: {err}). Nothing was "
        "loaded.\nSave the parameters again with net.save_parameters(path)."
    )


def _headers(
    npz: np.lib.npyio.NpzFile, source: str
) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's shape and dtype, read from its header without its values."""
    archive = npz.zip
    assert archive is not None, "an open NpzFile has its zip archive"
    members = set(archive.namelist())
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    for name in npz.files:
        member = f"{name}.npy" if f"{name}.npy" in members else name
        try:
            with archive.open(member) as fp:
                version = np.lib.format.read_magic(fp)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
                else:
                    raise ValueError(f"unsupported .npy format version {version}")
        except READ_ERRORS as err:
            raise _unreadable(source, err) from None
        if dtype.hasobject:
            raise ParameterFileError(
                f"'{source}' holds Python objects under '{name}', which would need "
                "pickle to read; lazymagic never unpickles. Nothing was loaded.\n"
                "Save numeric arrays only, as net.save_parameters(path) does."
            )
        out[name] = (tuple(int(d) for d in shape), np.dtype(dtype))
    return out


def _check_marker(npz: np.lib.npyio.NpzFile, source: str) -> None:
    try:
        text = str(npz[FORMAT_KEY])
    except READ_ERRORS as err:
        raise _unreadable(source, err) from None
    name, _, version = text.rpartition(" ")
    if name != FORMAT_NAME or not version.isdigit():
        raise ParameterFileError(
            f"'{source}' has a damaged format marker ({text!r}); nothing was "
            "loaded.\nSave the parameters again with net.save_parameters(path)."
        )
    if int(version) > FORMAT_VERSION:
        raise ParameterFileError(
            f"'{source}' is a lazymagic parameter file of format {version}, newer "
            f"than this version reads ({FORMAT_VERSION}); nothing was loaded.\n"
            "Upgrade lazymagic to load it."
        )


def _check_names(
    expected: list[str], found: list[str], source: str, marked: bool
) -> None:
    missing = [n for n in expected if n not in found]
    extra = [n for n in found if n not in expected]
    if not missing and not extra:
        return
    origin = (
        ""
        if marked
        else (
            " It has no lazymagic format marker, so it was not written by "
            "save_parameters."
        )
    )
    parts = []
    if missing:
        lines = []
        for name in missing[:SHOWN]:
            close = difflib.get_close_matches(name, extra, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"'{name}'{hint}")
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        parts.append(f"missing from the file: {', '.join(lines)}{more}")
    if extra:
        parts.append(f"in the file but not in the net: {_listing(extra)}")
    raise ParameterFileError(
        f"'{source}' does not fit this net; nothing was loaded.{origin}\n"
        + "\n".join(f"- {p}." for p in parts)
        + "\nLoad it into the net it was saved from: the same layers with the same "
        "labels, so that the dotted names match (see net.collect_params())."
    )


def _check_dtypes(
    params: dict[str, Parameter],
    headers: dict[str, tuple[tuple[int, ...], np.dtype]],
    source: str,
) -> None:
    bad = []
    for name, (_, dtype) in headers.items():
        target = params[name].dtype
        if dtype.kind not in "biuf" or not np.can_cast(dtype, target, "safe"):
            bad.append((name, dtype, target))
    if not bad:
        return
    lines = "\n".join(
        f"- '{n}': the file holds {d} values; the parameter is {t}." for n, d, t in bad
    )
    floats = {d for _, d, _ in bad if d.kind == "f"}
    if len(floats) == 1 and len(floats) == len({d for _, d, _ in bad}):
        fix = (
            f"Cast the net first (net.cast('{floats.pop().name}')), or convert the "
            "file's arrays to the net's dtype yourself."
        )
    else:
        fix = "Convert the file's arrays to the net's dtype, or save them again."
    raise ParameterFileError(
        f"'{source}' holds values that this net's parameters cannot take without "
        f"loss; nothing was loaded.\n{lines}\n{fix}"
    )


def _check_shapes(
    params: dict[str, Parameter],
    headers: dict[str, tuple[tuple[int, ...], np.dtype]],
    source: str,
) -> None:
    bad = []
    for name, (shape, _) in headers.items():
        known = params[name].shape
        if agree(known, shape):
            continue
        line = (
            f"- parameter '{name}' has shape {format_shape(known)}; the file holds "
            f"shape {format_shape(shape)}"
        )
        if len(shape) == 2 and tuple(known) == (shape[1], shape[0]):
            line += " (the transpose of what fits)"
        bad.append(line + ".")
    if bad:
        raise ShapeError(
            f"'{source}' holds shapes that contradict this net's known dimensions; "
            "nothing was loaded.\n" + "\n".join(bad) + "\n"
            "Load a file saved from a net with the same sizes, or declare the net "
            "with the file's sizes (unknown dimensions are filled from the file)."
        )


def _read_values(
    npz: np.lib.npyio.NpzFile, params: dict[str, Parameter], source: str
) -> dict[str, np.ndarray]:
    """Read every array, in each parameter's own dtype, as fresh C-ordered arrays."""
    values = {}
    for name, param in params.items():
        try:
            raw = npz[name]
        except READ_ERRORS as err:
            raise _unreadable(source, err) from None
        value = np.asarray(raw, dtype=param.dtype, order="C")
        if not value.flags.writeable or not value.flags.owndata:
            value = value.copy()
        values[name] = value
    return values


# -- message helpers ---------------------------------------------------------------


def _listing(names: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:SHOWN])
    more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return shown + more
