"""The memory guard: add up the bytes before allocating any of them."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from ..errors import MemoryLimitError
from ..options import options
from .shapes import format_shape

if TYPE_CHECKING:
    from .parameter import Parameter

logger = logging.getLogger(__name__)


def available_bytes() -> int:
    """Memory the system can still give, from /proc/meminfo where there is one."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 8 << 30  # a guess where neither source exists


def limit() -> int:
    """The number of bytes one operation may materialize."""
    if options.max_param_bytes is not None:
        return int(options.max_param_bytes)
    return int(available_bytes() * options.max_param_fraction)


def format_bytes(n: int) -> str:
    """Bytes as people read them.

    >>> format_bytes(1536)
    '1.5 KiB'
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check(
    params: list[Parameter],
    shapes: dict[int, tuple[int | None, ...]] | None = None,
    note: str = "",
) -> None:
    """Refuse to go on if materializing ``params`` would pass the limit.

    Args:
        params: the parameters about to be allocated.
        shapes: their shapes where they differ from ``Parameter.shape``.
        note: a last sentence for the message, about the operation refused.

    Raises:
        MemoryLimitError: names the largest parameter, its shape and bytes.
    """
    if not params:
        return
    shapes = shapes or {}
    sizes = []
    for p in params:
        shape = shapes.get(id(p), p.shape)
        count = 1
        for d in shape:
            count *= d  # type: ignore[operator]
        sizes.append((count * p.dtype.itemsize, p, shape))
    total = sum(s for s, _, _ in sizes)
    cap = limit()
    logger.debug("materializing %d bytes (limit %d)", total, cap)
    if total <= cap:
        return
    nbytes, biggest, shape = max(sizes, key=lambda t: t[0])
    cause = biggest.size_cause
    raise MemoryLimitError(
        f"materializing would allocate {format_bytes(total)}, more than the limit "
        f"of {format_bytes(cap)}; nothing was allocated.\n"
        f"The largest is parameter '{biggest.name}' with shape "
        f"{format_shape(shape)} ({format_bytes(nbytes)}).{cause}\n"
        "Make that layer smaller (pool or stride before flattening), or raise the "
        "limit with lazymagic.options.max_param_bytes "
        "(%config LazyMagic.max_param_bytes in IPython)."
        + (f"\n{note}" if note else "")
    )
