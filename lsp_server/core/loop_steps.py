"""Whether the event loop is computing a step of a request right now: a signal for background threads.

The event loop shares one interpreter lock with the threads that work in the background (the
indexer, the refresh of an edited document). A step the loop computes (a prompt, post-processing)
that takes 20 ms alone took 60-90 ms while two such threads kept asking for the lock: each holder
keeps it for a switch interval before it must let go. So the loop marks its steps (``step``), and
long background work waits at its next checkpoint while one runs (``wait_while_stepping``), at most
``MAX_WAIT_S`` each time: a step is short, and a background thread must never stall for long.

Between two long C calls of its own (each holding the lock), a background thread also stands aside
for a moment (``give_way``), so a request the loop started can finish.

Only the loop's thread enters ``step``; other threads only read the count, which the interpreter
lock keeps whole. Owns that count and nothing else; must not import anything of llm-lsp.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

#: The longest one checkpoint waits for the loop's step to end.
MAX_WAIT_S = 0.01
_POLL_S = 0.0005
#: How long a background thread stands aside between two long C calls (``give_way``).
GIVE_WAY_S = 0.005

_stepping = 0


@contextlib.contextmanager
def step() -> Iterator[None]:
    """Mark the ``with`` block as a step the event loop computes (call on the loop's thread only)."""
    global _stepping
    _stepping += 1
    try:
        yield
    finally:
        _stepping -= 1


def stepping() -> bool:
    """Whether the event loop is inside a ``step`` now."""
    return _stepping > 0


def wait_while_stepping() -> None:
    """A background thread's checkpoint: wait while the loop computes a step, up to ``MAX_WAIT_S``."""
    if not _stepping:
        return
    deadline = time.monotonic() + MAX_WAIT_S
    while _stepping and time.monotonic() < deadline:
        time.sleep(_POLL_S)


def give_way() -> None:
    """A background thread between two C calls that each hold the interpreter lock for long: pause.

    A request the event loop started needs the lock several times (read, parse, answer, write); a
    thread that goes straight from one long call to the next takes the lock back at the first of
    them, so the request waited for every call. Nothing on the main thread (the event loop's).
    """
    if threading.current_thread() is not threading.main_thread():
        time.sleep(GIVE_WAY_S)
