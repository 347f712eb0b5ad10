"""glibc's allocator policy for a process that lives for days: set once, before any thread starts.

Owns the ``mallopt`` settings the server runs with. Must not import anything of the server: it is
called first thing in ``serve``. On other C libraries (macOS, musl) it sets nothing.
"""

from __future__ import annotations

import contextlib
import ctypes

# glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
LARGE_BLOCK_BYTES = 128 * 1024
ARENAS = 1


def tune_allocator() -> None:
    """Map large blocks alone, and keep one heap for every thread.

    Large blocks: each keystroke's version of a document joins its text once (100 KB and more for a
    big file), and glibc's default raises its mmap threshold to the largest block freed so far: from
    then on those texts come from the heap, and the holes they leave keep the resident size up long
    after (3-4 MiB of free heap after a 20,000-key soak). A fixed threshold of ``LARGE_BLOCK_BYTES``
    maps them alone and unmaps them when freed.

    One heap: glibc gives each thread that meets a locked heap an arena of its own, and the indexer,
    its teacher and the asyncio workers each left a fragmented one behind (5 MiB of resident size
    after a cold index of CPython's standard library). The threads take turns on the interpreter
    lock anyway, so sharing one heap costs no parallelism.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to set
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES)
        libc.mallopt(_M_ARENA_MAX, ARENAS)


def trim_heap() -> None:
    """Give the free memory at the top and inside glibc's heap back to the system (``malloc_trim``).

    glibc keeps freed blocks for reuse, so the resident size otherwise stays at its high-water mark.
    Takes a few milliseconds for a heap of tens of MiB.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
        ctypes.CDLL(None).malloc_trim(0)
