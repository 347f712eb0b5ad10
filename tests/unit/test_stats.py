"""The acceptance figures' file: counts, bounds, merging across processes, a corrupt file, the table."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

import pytest

from lsp_server.app import stats
from lsp_server.app.stats import MAX_ROWS, Row, UsageStats, bucket, clean_key, render

KEY = ("completion", "python", "starcoder2")


def test_counts_and_times_survive_a_flush_and_a_new_reader(tmp_path):
    path = tmp_path / "llm-lsp" / "stats.json"
    writer = UsageStats(path)
    for name in ("shown", "shown", "shown", "accepted", "partiallyAccepted", "dismissed"):
        writer.count(KEY, name)
    for seconds in (0.1, 0.2, 0.4):
        writer.time_to_show(KEY, seconds)
    writer.flush()
    assert not writer.dirty
    reader = UsageStats(path)
    reader.flush()
    total = reader.figures()["total"]
    assert (total["shown"], total["accepted"], total["partiallyAccepted"], total["dismissed"]) == (3, 1, 1, 1)
    assert total["acceptanceRate"] == pytest.approx(1 / 3, abs=0.001)
    # The median of 100, 200 and 400 ms, read from the histogram: within the bucket's error.
    assert total["medianTimeToShowMs"] == pytest.approx(200, rel=stats.BUCKET_ERROR + 0.001)
    assert reader.figures()["byLanguage"]["python"]["shown"] == 3
    assert reader.figures()["byModel"]["starcoder2"]["accepted"] == 1


def test_the_file_holds_counts_only(tmp_path):
    path = tmp_path / "stats.json"
    recorder = UsageStats(path)
    recorder.count(("completion", "python", clean_key("/home/me/models/qwen-7b.gguf", model=True)), "shown")
    recorder.flush()
    text = path.read_text()
    assert "/home/me" not in text and "qwen-7b.gguf" in text
    row = json.loads(text)["rows"][0]
    assert set(row) == {
        "kind",
        "language",
        "model",
        "shown",
        "accepted",
        "partiallyAccepted",
        "dismissed",
        "timeToShowMs",
    }


def test_hugging_face_model_ids_keep_their_owner():
    assert clean_key("Qwen/Qwen2.5-Coder-7B", model=True) == "Qwen/Qwen2.5-Coder-7B"
    assert clean_key("C:\\models\\x.gguf", model=True) == "x.gguf"
    assert clean_key("") == "unknown"
    assert len(clean_key("x" * 500)) == stats.MAX_KEY_CHARS


def _count_in_another_process(path: str, n: int) -> None:
    recorder = UsageStats(Path(path))
    for _ in range(n):
        recorder.count(KEY, "shown")
        recorder.flush()  # one write per count: the most contention there can be


def test_several_processes_writing_at_once_lose_no_count(tmp_path):
    path = tmp_path / "stats.json"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_count_in_another_process, args=(str(path), 40)) for _ in range(4)]
    for worker in workers:
        worker.start()
    _count_in_another_process(str(path), 40)
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    reader = UsageStats(path)
    reader.flush()
    assert reader.figures()["total"]["shown"] == 5 * 40


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"version": 1, "rows": [{"kind": "completion", "language": "python", "model": "m", "shown": -3}]}',
        '{"version": 99, "rows": []}',
        '{"version": 1, "rows": [{"kind": "completion", "language": "python", "model": "m", "shown": "7"}]}',
        "[]",
    ],
)
def test_a_corrupt_file_is_set_aside_and_counting_restarts(tmp_path, content):
    path = tmp_path / "stats.json"
    path.write_text(content)
    recorder = UsageStats(path)
    recorder.count(KEY, "accepted")
    recorder.flush()
    assert (tmp_path / "stats.json.corrupt").read_text() == content
    reader = UsageStats(path)
    reader.flush()
    assert reader.figures()["total"]["accepted"] == 1


def test_rows_are_bounded_whatever_the_languages(tmp_path):
    path = tmp_path / "stats.json"
    recorder = UsageStats(path)
    for n in range(MAX_ROWS * 3):
        recorder.count(("completion", f"lang{n}", "m"), "shown")
        recorder.time_to_show(("completion", f"lang{n}", "m"), n)
    recorder.flush()
    rows = json.loads(path.read_text())["rows"]
    assert len(rows) <= MAX_ROWS
    assert sum(row["shown"] for row in rows) == MAX_ROWS * 3  # folded into "other", not lost
    assert all(len(row["timeToShowMs"]) <= stats.BUCKETS for row in rows)
    assert path.stat().st_size < 150_000


def test_histogram_buckets_cover_milliseconds_to_minutes():
    assert bucket(0) == 0 and bucket(0.5) == 0
    assert bucket(10**9) == stats.BUCKETS - 1
    assert bucket(100) < bucket(112) < bucket(1000)


def test_nothing_is_created_when_nothing_was_counted(tmp_path):
    path = tmp_path / "state" / "llm-lsp" / "stats.json"
    UsageStats(path).flush()
    assert not (tmp_path / "state").exists()


def test_an_unwritable_folder_keeps_the_counts_pending(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the folder should be")
    recorder = UsageStats(blocker / "stats.json")
    recorder.count(KEY, "shown")
    recorder.flush()  # no exception
    assert recorder.dirty
    assert recorder.figures()["total"]["shown"] == 1
    recorder.path = None  # its exit hook would try again (and warn) when pytest ends


def test_the_table_names_every_language_and_model(tmp_path):
    rows = {KEY: Row(shown=4, accepted=1, partially_accepted=2, dismissed=1, times={bucket(150): 4})}
    text = render(stats.figures(rows), "/tmp/x/stats.json")
    assert "python" in text and "starcoder2" in text and "25%" in text
    assert "sent nowhere" in text
    assert stats.summary(rows).startswith("accepted 1 of 4 suggestions (25%), 2 in part; median")
