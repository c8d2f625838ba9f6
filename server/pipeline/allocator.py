"""glibc's malloc set up for a process that allocates and frees many large, short-lived arrays.

A network's feature maps (ISNet's first stage: 64 MiB each) and a large photo's float planes
are bigger than glibc's largest mmap threshold (32 MiB), so by default every one is a fresh
``mmap``: the kernel hands out zeroed pages one fault at a time and takes them back at
``free``: on ISNet's 1024² view a fifth of its CPU time went to page faults (README, *Speed*).
onnxruntime does not pay this, because its arena keeps memory between runs.

:func:`keep_freed_memory` makes such blocks come from the heap and stay there when freed,
so the next feature map reuses them (no faults on a warm run), with one arena for all threads,
because the other arenas' heaps cannot hold a block over 64 MiB and would fall back to
``mmap``. :func:`release_freed_memory` gives what is free back to the system — the server
calls it when it runs out of work, so an idle server does not keep the peak of its last photo.

Linux with glibc only: elsewhere both are no-ops returning False (macOS's and Windows' allocators
are left as they are).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: blocks up to this size come from the heap (a 24 MP photo's float RGB is 288 MiB)
MMAP_THRESHOLD = 1 << 30
#: free memory at the heap's top kept rather than trimmed after each free
TRIM_THRESHOLD = (1 << 31) - 1


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only (not musl)
    except (OSError, AttributeError):
        return None
    return libc


def keep_freed_memory() -> bool:
    """Large blocks from one heap that keeps freed memory for reuse; True when glibc took all three settings.

    Call it first thing, before threads allocate: a thread that already has its own arena keeps it.
    """
    libc = _glibc()
    if libc is None:
        return False
    settings = ((M_ARENA_MAX, 1), (M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)


def release_freed_memory() -> bool:
    """Return the heap's free pages to the system (``malloc_trim``); True when any were released."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
