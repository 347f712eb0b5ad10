"""The long fuzz run of issue 8: stateful sequences and random frames against the real server.

Run: /work/venv/bin/python bench/fuzz.py [--sequences 200] [--steps 30] [--frames 5000] [--seed 0]

Runs the Hypothesis state machine of tests/robustness/test_stateful.py (one server process for all
sequences; fake model with random latency and faults) for ``--sequences`` examples of up to
``--steps`` steps, then ``--frames`` random frames (tests/robustness/frames.py) against a second
process. Fails loudly on the first broken invariant (a request unanswered or answered twice, a
document out of sync, a traceback in the log). Prints the counts of sequences, steps, requests and
frames run and the longest answer time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "robustness")]

from fake_openai import FakeOpenAI, Reply  # noqa: E402
from frames import run_frames  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402
from rawclient import RawClient, server_env  # noqa: E402
from test_stateful import STATS, ServerMachine, _Shared  # noqa: E402


def stateful(sequences: int, steps: int, seed: int) -> None:
    """The state machine for ``sequences`` examples; figures land in ``STATS``."""
    started = time.monotonic()
    run_state_machine_as_test(
        ServerMachine,
        settings=settings(
            max_examples=sequences,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=seed == 0,
        ),
    )
    code = _Shared.stop()
    print(
        f"stateful: {STATS.sequences} sequences, {STATS.steps} steps, {STATS.requests} requests "
        f"in {time.monotonic() - started:.1f} s; longest answer {STATS.longest_answer * 1000:.0f} ms "
        f"({STATS.longest_method}); exit code {code}"
    )


def frames(count: int, seed: int) -> None:
    """``count`` random frames against one server, in batches of 500 (the client checks each)."""
    started = time.monotonic()
    longest = 0.0
    with FakeOpenAI(default=Reply(text="a + b", latency=0.05)) as fake:
        client = RawClient(server_env(fake.base_url, "starcoder2"))
        try:
            client.initialize()
            done = 0
            while done < count:
                batch = min(500, count - done)
                longest = max(longest, run_frames(client, batch, seed=seed * 1000 + done))
                done += batch
            assert "Traceback" not in client.stderr_text(), client.stderr_text()
            code = client.shutdown_and_exit()
        finally:
            client.close()
    obliged = sum(len(v) for v in client.answers.values() if v)
    print(
        f"frames: {count} frames, {obliged} answers (requests and null-id errors) "
        f"in {time.monotonic() - started:.1f} s; "
        f"longest answer {longest * 1000:.0f} ms; exit code {code}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0, help="0: Hypothesis derandomized; else random")
    options = parser.parse_args()
    if options.sequences:
        stateful(options.sequences, options.steps, options.seed)
    if options.frames:
        frames(options.frames, options.seed)


if __name__ == "__main__":
    main()
