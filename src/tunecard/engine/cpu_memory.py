"""Keep freed tensor memory inside the process while training on a CPU.

glibc serves every allocation above its mmap threshold (at most 32 MB) with a fresh `mmap` and gives it
back with `munmap` when the tensor is freed. A training step at 256 tokens frees and re-allocates
hundreds of such buffers (the attention probabilities of a 16-question multiple-choice batch are 250 MB a
layer), so each step page-faults gigabytes of new zeroed pages (benchmarks/cpu_memory.py: 47-66 s of
kernel CPU beside 83 s of user CPU). Telling glibc never to mmap a chunk and never to trim the heap lets
each step reuse the previous step's memory (1.55x faster steps at 256 tokens there, none at 64).
The cost: the process keeps its peak memory until it exits. Only training turns it on, so `predict`
on its own keeps its bounded memory; a process that trains keeps the setting for what it does next.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
KEEP_ALL = 2**31 - 1
"""The largest trim threshold mallopt takes (a C int): the heap is never shrunk."""

_applied = False


def reuse_freed_memory() -> bool:
    """Set glibc's allocator to keep freed memory for reuse (once per process); False where the C
    library is not glibc (macOS, Windows, musl), which manage large blocks differently."""
    global _applied
    if _applied:
        return True
    libc = _glibc()
    if libc is None:
        return False
    _applied = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, KEEP_ALL) == 1
    return _applied


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None
