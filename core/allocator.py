"""Let the process reuse the memory it frees instead of handing it back to the OS after every large array."""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_NEVER = 2**31 - 1  # mallopt takes an int
_LARGEST_REUSED_BLOCK = 2**30


def keep_freed_memory() -> bool:
    """Make glibc keep freed blocks for reuse; returns whether it took effect (False off Linux/glibc).

    By default glibc serves every large allocation (a video frame, a feature map)
    with a fresh mmap and unmaps it on free, so the next one faults in new zeroed
    pages, thousands of them per EfficientNet-B7 forward pass.
    With the thresholds raised, freed memory stays in the heap and is reused, which
    makes detection and the classifiers faster (benchmarks/README.md, "Figures
    behind the code's choices"). The resident size no longer shrinks after a peak,
    which suits a process that repeats the same work. All threads share one heap,
    so what a read-ahead thread frees is reused by the main thread instead of being
    kept apart, where a heap per thread would raise a folder run's peak. Call it
    once, early in a script's main(), before it starts threads.
    """
    libc = _glibc()
    if libc is None:
        return False
    settings = ((_M_MMAP_THRESHOLD, _LARGEST_REUSED_BLOCK), (_M_TRIM_THRESHOLD, _NEVER), (_M_ARENA_MAX, 1))
    return all([bool(libc.mallopt(parameter, value)) for parameter, value in settings])


def release_freed_memory() -> bool:
    """Hand the freed memory back to the OS once; returns whether it could (False off Linux/glibc).

    For after a one-off peak such as loading models (a checkpoint and the model
    built from it): the repeated work that follows regrows only what it needs.
    """
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None)
    # musl and others: mallopt is absent or a stub
    return libc if hasattr(libc, "gnu_get_libc_version") else None
