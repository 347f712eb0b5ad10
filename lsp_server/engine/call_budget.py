"""The model-call budget that inline completions and next edits share while the user types.

Owns one rule: over a typing session, model calls stay under 0.15 per typed change (a keystroke in
most editors). It is a token bucket: each change the user types adds ``RATE`` (up to ``BURST``), each
model call spends one, whichever feature made it (explicit commands and fixes are not counted: the
user asked for each). ``RATE`` is below 0.15 so that the burst (next edits right after completions
the user asked for, or a test's requests) still fits: a session of 500 keystrokes stays under
0.10 + 16 / 500 = 0.132 calls each however often a client asks. Completions are counted, not
refused: their own debounce keeps them under the rate, and ghost text at the cursor matters more; a
next edit asked automatically runs only when a whole call is left, so it takes what completions
leave. Explicit requests are never refused (the user asked), but they spend too.

Pure: calls are counted by the caller (the provider's count of requests started), no clock, no I/O.
"""

from __future__ import annotations

import attrs

RATE = 0.10  # sustained model calls per typed change (bench/next_edit.py's typing replay measures it)
BURST = 16.0  # calls saved up at most: next edits right after a pause, then the rate holds


@attrs.define
class CallBudget:
    """A token bucket of model calls, refilled by typing (see the module docstring)."""

    rate: float = RATE
    burst: float = BURST
    tokens: float = attrs.field(default=attrs.Factory(lambda self: self.burst, takes_self=True))
    _seen: int | None = None  # the provider's request count when last observed (None: a new provider)

    def typed(self, changes: int = 1) -> None:
        """The user typed ``changes`` changes (one per ``didChange`` content change)."""
        self.tokens = min(self.burst, self.tokens + self.rate * changes)

    def observe(self, calls: int) -> None:
        """The provider has started ``calls`` requests in all: spend the ones not seen yet.

        A smaller count than last time means a new provider (settings changed): counting restarts.
        """
        if self._seen is not None and calls >= self._seen:
            self.tokens -= calls - self._seen
        self._seen = calls

    def allows(self) -> bool:
        """Whether an automatic next edit may call the model now (one whole call is left)."""
        return self.tokens >= 1.0
