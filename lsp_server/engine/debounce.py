"""Adaptive debounce for inline completion requests.

Owns how long to wait after a keystroke before asking the model: a bit longer than the user's usual
inter-key gap while they type fast (so a burst of typing sends one request, not ten), longer when
the model is slow (a slow request that the next keystroke invalidates is expensive), and scaled by
how the user has been receiving suggestions lately: while they dismiss most, a little longer (fewer
calls for suggestions they skip), while they accept many, a little sooner, though never inside a
typing burst (like Tabby's debounce, which weighs typing speed, acceptance and latency). Always
within the configured bounds. Explicit
invocations are never debounced: the caller skips this. Pure and testable: every instant is passed
in (``time.monotonic()`` seconds); no clocks, no sleeping, no settings lookups.
"""

from __future__ import annotations

import attrs


@attrs.define
class AdaptiveDebounce:
    """Inter-key gap and model latency, smoothed; ``delay`` turns them into a wait in bounds."""

    min_delay: float = 0.075
    max_delay: float = 0.6
    smoothing: float = 0.3  # weight of the newest observation in the moving averages
    pause: float = 1.0  # gaps longer than this are pauses between bursts, not typing cadence
    fast_gap: float = 0.35  # the user "types fast" while their usual gap is below this
    margin: float = 1.3  # wait this many usual gaps: a bit longer than the user's rhythm
    spread: float = 3.0  # plus this many mean deviations: irregular typists have longer gaps too
    latency_share: float = 0.25  # wait this share of the usual model latency
    # Acceptance: at ``usual_acceptance`` the wait is unchanged; each point below it waits
    # ``acceptance_weight`` points longer, each point above it that much shorter, within the factors.
    usual_acceptance: float = 0.3
    acceptance_weight: float = 1.0
    slowest_factor: float = 1.5
    fastest_factor: float = 0.6
    acceptance_smoothing: float = 0.15  # weight of the newest outcome: about the last dozen count
    min_outcomes: int = 3  # outcomes seen before the rate counts at all
    gap: float | None = None  # EMA of inter-key gaps while typing
    deviation: float = 0.0  # EMA of |gap - usual gap|: how irregular the typing is
    latency: float | None = None  # EMA of model latency
    acceptance: float | None = None  # EMA of outcomes of shown suggestions (1 accepted, 0 dismissed)
    outcomes: int = 0
    _last_key: float | None = None

    def observe_keystroke(self, now: float) -> None:
        """A document change caused by typing happened at ``now``."""
        if self._last_key is not None:
            gap = now - self._last_key
            if 0 <= gap <= self.pause:
                if self.gap is not None:
                    self.deviation = self._mix(self.deviation, abs(gap - self.gap))
                self.gap = gap if self.gap is None else self._mix(self.gap, gap)
        self._last_key = now

    def observe_latency(self, seconds: float) -> None:
        """A model request took ``seconds`` (time to the first useful answer)."""
        if seconds >= 0:
            self.latency = seconds if self.latency is None else self._mix(self.latency, seconds)

    def observe_outcome(self, accepted: bool) -> None:
        """A shown suggestion was accepted (in full or in part) or dismissed."""
        value = 1.0 if accepted else 0.0
        if self.acceptance is None:
            self.acceptance = value
        else:
            weight = self.acceptance_smoothing
            self.acceptance = (1 - weight) * self.acceptance + weight * value
        self.outcomes += 1

    def acceptance_factor(self) -> float:
        """How much the recent acceptance rate stretches (> 1) or shortens (< 1) the wait."""
        if self.acceptance is None or self.outcomes < self.min_outcomes:
            return 1.0
        factor = 1 + self.acceptance_weight * (self.usual_acceptance - self.acceptance)
        return min(self.slowest_factor, max(self.fastest_factor, factor))

    def delay(self, now: float) -> float:
        """Seconds to wait after the keystroke at ``now`` before requesting, within the bounds."""
        wait = burst = self.min_delay
        typing = self._last_key is not None and now - self._last_key <= self.pause
        if typing and self.gap is not None and self.gap <= self.fast_gap:
            # A request sent inside a burst is cancelled by the next key and wastes a model call, so
            # wait past the user's usual gap *and* its usual spread (like TCP's RTO = SRTT + 4 RTTVAR).
            burst = max(wait, self.gap * self.margin, self.gap + self.spread * self.deviation)
            wait = burst
        if self.latency is not None:
            wait = max(wait, self.latency * self.latency_share)
        factor = self.acceptance_factor()
        # Sooner, but never inside a typing burst: measured with bench/typing_replay.py, a wait cut
        # below the burst guard sent 5x the model calls (most cancelled by the next key) and left the
        # typed-ahead cache fewer answers to serve from.
        wait = wait * factor if factor >= 1 else max(burst, wait * factor)
        return min(self.max_delay, max(self.min_delay, wait))

    def _mix(self, old: float, new: float) -> float:
        return (1 - self.smoothing) * old + self.smoothing * new
