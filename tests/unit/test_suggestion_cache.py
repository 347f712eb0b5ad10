"""Typed-ahead cache: hits while typing what was shown, on backspace, expiry, LRU and auto-close."""

from lsp_server.engine.cache import SuggestionCache

URI = "file:///a.py"
PREFIX = "import os\n\n" * 500 + "def area(r):\n    return "
SUFFIX = "\n\nprint(area(2))\n"


def test_typing_the_shown_suggestion_is_served_from_cache():
    cache = SuggestionCache()
    suggestion = "3.14159 * r * r"
    cache.put(URI, PREFIX, SUFFIX, [suggestion], now=0.0)
    for k in range(1, len(suggestion)):
        assert cache.get(URI, PREFIX + suggestion[:k], SUFFIX, now=1.0 + k) == [suggestion[k:]]
    assert cache.stats().hits == len(suggestion) - 1
    assert cache.stats().misses == 0


def test_typing_it_all_or_something_else_is_a_miss():
    cache = SuggestionCache()
    cache.put(URI, PREFIX, SUFFIX, ["r * r"], now=0.0)
    assert cache.get(URI, PREFIX + "r * r", SUFFIX, now=1.0) is None
    assert cache.get(URI, PREFIX + "x", SUFFIX, now=1.0) is None
    assert cache.stats().misses == 2


def test_backspace_into_a_cached_state_reuses_it():
    cache = SuggestionCache()
    cache.put(URI, PREFIX, SUFFIX, ["r * r"], now=0.0)
    assert cache.get(URI, PREFIX + "r *", SUFFIX, now=1.0) == [" r"]
    assert cache.get(URI, PREFIX + "r", SUFFIX, now=2.0) == [" * r"]
    assert cache.get(URI, PREFIX, SUFFIX, now=3.0) == ["r * r"]
    assert cache.get(URI, PREFIX[:-1], SUFFIX, now=4.0) is None


def test_typing_ahead_hit_rate_over_a_session():
    cache = SuggestionCache()
    text = PREFIX
    suggestions = ["math.pi * r ** 2", "\n\ndef perimeter(r):\n    return 2 * math.pi * r"]
    calls = lookups = 0
    for suggestion in suggestions:
        cache.put(URI, text, SUFFIX, [suggestion], now=float(calls))
        calls += 1
        for ch in suggestion:
            text += ch
            lookups += 1
            if cache.get(URI, text, SUFFIX, now=float(calls)) is None:
                break
    stats = cache.stats()
    assert calls == 2
    assert stats.hits == lookups - 2 and stats.hit_rate > 0.95


def test_several_suggestions_keep_those_still_matching():
    cache = SuggestionCache()
    cache.put(URI, PREFIX, SUFFIX, ["r * r", "r ** 2", "math.pi"], now=0.0)
    assert cache.get(URI, PREFIX + "r ", SUFFIX, now=1.0) == ["* r", "** 2"]


def test_changed_suffix_document_or_lines_above_miss():
    cache = SuggestionCache()
    cache.put(URI, PREFIX, SUFFIX, ["r * r"], now=0.0)
    assert cache.get(URI, PREFIX + "r", SUFFIX + "x", now=1.0) is None
    assert cache.get("file:///b.py", PREFIX + "r", SUFFIX, now=1.0) is None
    edited = PREFIX.replace("def area", "def aera")
    assert cache.get(URI, edited + "r", SUFFIX, now=1.0) is None


def test_auto_closed_brackets_are_not_shown_twice():
    cache = SuggestionCache()
    cache.put(URI, "x = ", "\n", ["max(a, b)"], now=0.0)
    assert cache.get(URI, "x = max(", ")\n", now=1.0) == ["a, b"]


def test_entries_expire_and_lru_evicts_the_oldest():
    cache = SuggestionCache(capacity=2, ttl=10.0)
    cache.put(URI, "a = ", "", ["1"], now=0.0)
    assert cache.get(URI, "a = ", "", now=11.0) is None
    cache.put(URI, "b = ", "", ["2"], now=20.0)
    cache.put(URI, "c = ", "", ["3"], now=20.0)
    cache.put(URI, "d = ", "", ["4"], now=20.0)
    assert cache.get(URI, "b = ", "", now=21.0) is None
    assert cache.get(URI, "d = ", "", now=21.0) == ["4"]
    assert cache.stats().size == 2


def test_empty_suggestions_are_not_stored():
    cache = SuggestionCache()
    cache.put(URI, "a", "", ["", "   "], now=0.0)
    assert cache.stats().size == 0


def test_hits_when_the_caller_passes_a_sliding_window_of_the_prefix():
    # completion.py passes the last 2000 characters of the prefix: its start moves as the user types.
    cache = SuggestionCache()
    window = 2000
    suggestion = "3.14159 * r * r"
    cache.put(URI, PREFIX[-window:], SUFFIX, [suggestion], now=0.0)
    for k in range(1, len(suggestion)):
        typed = (PREFIX + suggestion[:k])[-window:]
        assert cache.get(URI, typed, SUFFIX, now=1.0) == [suggestion[k:]]
    assert cache.get(URI, (PREFIX + "3.2")[-window:], SUFFIX, now=1.0) is None


def test_a_short_prefix_must_match_from_the_start_of_the_document():
    cache = SuggestionCache()
    cache.put(URI, "x = ", "\n", ["1"], now=0.0)
    assert cache.get(URI, "y = x = ", "\n", now=1.0) is None
    assert cache.get(URI, "x = ", "\n", now=1.0) == ["1"]


def test_a_request_for_alternatives_is_not_answered_by_a_single_answer():
    cache = SuggestionCache()
    cache.put("u", "x = ", "", ["1"], 0.0)
    assert cache.get("u", "x = ", "", 1.0, candidates=3) is None  # cycling asks the model
    cache.put("u", "x = ", "", ["1", "2"], 1.0, asked=3)  # two of three survived post-processing
    assert cache.get("u", "x = ", "", 2.0, candidates=3) == ["1", "2"]
    assert cache.get("u", "x = ", "", 2.0) == ["1", "2"]
