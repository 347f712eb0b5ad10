"""Background threads wait at their checkpoints while the event loop computes a step (core/loop_steps.py)."""

from __future__ import annotations

import threading
import time

from lsp_server.core import loop_steps, syntax


def test_a_checkpoint_passes_at_once_when_the_loop_is_not_stepping() -> None:
    started = time.monotonic()
    loop_steps.wait_while_stepping()
    assert time.monotonic() - started < loop_steps.MAX_WAIT_S / 2
    assert not loop_steps.stepping()


def test_a_checkpoint_waits_for_the_step_to_end_but_never_longer_than_its_bound() -> None:
    waited: list[float] = []

    def background() -> None:
        started = time.monotonic()
        loop_steps.wait_while_stepping()
        waited.append(time.monotonic() - started)

    with loop_steps.step():
        assert loop_steps.stepping()
        thread = threading.Thread(target=background)
        thread.start()
        thread.join(5)  # the step never ends while the thread waits: only the bound lets it go
    assert not loop_steps.stepping()
    assert loop_steps.MAX_WAIT_S * 0.9 <= waited[0] < 1.0


def test_a_step_that_raises_is_still_closed() -> None:
    try:
        with loop_steps.step():
            raise ValueError("a step failed")
    except ValueError:
        pass
    assert not loop_steps.stepping()


def test_a_big_parse_off_the_loop_waits_at_its_chunks_while_a_step_runs() -> None:
    source = b"x = 1\n" * 40_000  # 240 kB: 15 chunks, each one a checkpoint
    times: dict[str, float] = {}

    def parse(label: str) -> None:
        started = time.monotonic()
        syntax.parse("python", source)
        times[label] = time.monotonic() - started

    free = threading.Thread(target=parse, args=("free",))
    free.start()
    free.join()
    with loop_steps.step():  # a step that lasts the whole parse: every chunk waits its bound
        stepped = threading.Thread(target=parse, args=("stepped",))
        stepped.start()
        stepped.join(10)
    chunks = len(source) // syntax._CHUNK_BYTES
    assert times["stepped"] >= times["free"] + chunks * loop_steps.MAX_WAIT_S * 0.9


def test_the_completion_pipeline_marks_its_steps() -> None:
    from lsp_server.app.completion import slow_step

    with slow_step("prompt", "file:///here.py"):
        assert loop_steps.stepping()
    assert not loop_steps.stepping()


def test_a_background_thread_gives_way_between_long_calls_but_the_loop_never_sleeps(monkeypatch) -> None:
    slept: list[tuple[str, float]] = []

    def sleep(seconds: float) -> None:
        slept.append((threading.current_thread().name, seconds))

    monkeypatch.setattr(loop_steps.time, "sleep", sleep)
    loop_steps.give_way()  # the main thread: the event loop's
    assert slept == []
    thread = threading.Thread(target=loop_steps.give_way, name="indexer")
    thread.start()
    thread.join(5)
    assert slept == [("indexer", loop_steps.GIVE_WAY_S)]
