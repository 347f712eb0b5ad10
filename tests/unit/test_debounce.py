"""Adaptive debounce: bounds, typing cadence and model latency, with explicit times."""

from lsp_server.engine.debounce import AdaptiveDebounce


def type_keys(debounce: AdaptiveDebounce, start: float, gap: float, count: int) -> float:
    now = start
    for _ in range(count):
        debounce.observe_keystroke(now)
        now += gap
    return now - gap


def test_fresh_debounce_waits_the_minimum():
    assert AdaptiveDebounce().delay(0.0) == 0.075


def test_fast_typing_waits_a_bit_longer_than_the_usual_gap():
    debounce = AdaptiveDebounce()
    last = type_keys(debounce, 0.0, 0.2, 20)
    assert 0.2 < debounce.delay(last) <= 0.3


def test_very_fast_typing_never_goes_below_the_minimum():
    debounce = AdaptiveDebounce()
    last = type_keys(debounce, 0.0, 0.03, 20)
    assert debounce.delay(last) == 0.075


def test_pauses_do_not_count_as_typing_cadence():
    debounce = AdaptiveDebounce()
    for t in (0.0, 5.0, 10.0, 15.0):
        debounce.observe_keystroke(t)
    assert debounce.gap is None
    assert debounce.delay(15.0) == 0.075


def test_slow_model_means_longer_waits_capped_at_the_maximum():
    debounce = AdaptiveDebounce()
    debounce.observe_latency(1.2)
    assert debounce.delay(0.0) == 0.3
    for _ in range(20):
        debounce.observe_latency(10.0)
    assert debounce.delay(0.0) == 0.6


def test_cadence_adapts_when_the_user_slows_down():
    debounce = AdaptiveDebounce()
    last = type_keys(debounce, 0.0, 0.1, 20)
    fast = debounce.delay(last)
    last = type_keys(debounce, last + 0.3, 0.3, 20)
    assert debounce.delay(last) > fast


def test_custom_bounds():
    debounce = AdaptiveDebounce(min_delay=0.1, max_delay=1.0)
    debounce.observe_latency(100.0)
    assert debounce.delay(0.0) == 1.0


def test_irregular_typing_waits_past_the_usual_spread_of_gaps():
    regular, irregular = AdaptiveDebounce(), AdaptiveDebounce()
    now = 0.0
    for k in range(40):
        regular.observe_keystroke(k * 0.11)
        irregular.observe_keystroke(now)
        now += (0.06, 0.16)[k % 2]
    steady = regular.delay(39 * 0.11)
    assert 0.11 < steady <= 0.15
    # Gaps alternate 60/160 ms: waiting 1.3 usual gaps would fire inside most 160 ms gaps.
    assert irregular.delay(now - 0.06) > 0.16


def test_acceptance_rate_stretches_or_shortens_the_wait_within_bounds():
    def delay_after(outcomes: list[bool]) -> float:
        debounce = AdaptiveDebounce()
        last = type_keys(debounce, 0.0, 0.2, 20)
        for accepted in outcomes:
            debounce.observe_outcome(accepted)
        return debounce.delay(last)

    usual = delay_after([])
    assert delay_after([True, False]) == usual  # too few outcomes to judge
    dismissing = delay_after([False] * 12)
    accepting = delay_after([True] * 12)
    assert accepting == usual < dismissing  # sooner never means inside a typing burst
    assert dismissing <= usual * 1.5 and accepting >= usual * 0.6
    debounce = AdaptiveDebounce(min_delay=0.1, max_delay=0.2)
    last = type_keys(debounce, 0.0, 0.3, 20)
    for _ in range(12):
        debounce.observe_outcome(False)
    assert debounce.delay(last) == 0.2
    for _ in range(40):
        debounce.observe_outcome(True)
    assert debounce.delay(last + 10) == 0.1  # after a pause: the minimum, never below it


def test_accepting_many_never_asks_inside_a_typing_burst():
    debounce = AdaptiveDebounce()
    debounce.observe_latency(1.2)  # a slow model: its share of the wait is what may shrink
    last = type_keys(debounce, 0.0, 0.12, 20)
    usual = debounce.delay(last)
    for _ in range(20):
        debounce.observe_outcome(True)
    sooner = debounce.delay(last)
    assert sooner < usual
    assert sooner >= 0.12 * debounce.margin  # still past the usual gap between keys
