"""The background indexer: one worker thread keeps each root's database in step with the files on disk.

Owns the order of the work and nothing it stores. At start, per root: open the database (rebuilt when
corrupt, foreign or outdated) and let readers in (``on_ready``: from here on, lookups answer from what
is stored, each row filtered through the privacy gate), then drop the rows of files the privacy rules
now exclude. Then one walk of the workspace
and, per file, the cheapest check that proves it unchanged: its size and mtime, then a hash of its
bytes; only a changed file is parsed and written. Files near the open documents go first
(``prioritize``), so their cross-file context is ready long before a big workspace is done; files that
vanished are forgotten. After that first pass the thread waits for work: files changed on disk or
saved (``refresh``), a change of the privacy rules (``purge``).

It runs beside the event loop, never on it: it yields between files (and waits while requests are
being answered, ``busy``), and it shortens the interpreter's thread switch interval while it works so
the loop gets the GIL back within a millisecond. It must not judge privacy (``is_excluded`` is the
gate's verdict), resolve names (``index.py``) or know about LSP; its callbacks (``on_ready``,
``on_progress``, ``on_indexed``, ``on_done``) are called from the worker thread, and the caller moves
them onto its loop: ``on_indexed`` when the databases are in step, ``on_done`` once the first pass
has also handed every file's text to ``on_text`` (whoever learns from it: the offline engine;
unchanged files last).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import attrs

from lsp_server.core import loop_steps, syntax
from lsp_server.core.allocator import trim_heap
from lsp_server.engine import store
from lsp_server.engine.index import WorkspaceIndex, python_module_names, shared_prefix, symbols_of
from lsp_server.engine.store import Stamp, StoreReader, StoreWriter
from lsp_server.engine.symbols import FileSymbols
from lsp_server.engine.walk import decode_source, is_source_file, iter_workspace_files, read_source_bytes

log = logging.getLogger(__name__)

# A batch of writes is committed (and shown to readers) after this long or this many files.
COMMIT_SECONDS = 0.2
COMMIT_FILES = 64
# While the event loop answers a request, the worker pauses between files in steps of this long...
BUSY_PAUSE_S = 0.001
# ... but never longer than this per file: a request mostly waits for its model (network), and the
# shortened switch interval already gives the loop the GIL within a millisecond, so a long pause
# only made a cold index slower (bench/big_workspace.py: 2 s of 15 with a completion every 100 ms).
MAX_BUSY_WAIT_S = 0.01
# While a request waits for what loads in worker threads at start (the SDK, the secret scanner: CPU
# that the indexer's two threads would otherwise share three ways), both threads stand still, up to
# this long per file.
MAX_HOLD_S = 2.0
# The interpreter's switch interval while the worker runs: how long the loop may wait for the GIL.
WORKING_SWITCH_INTERVAL_S = 0.001
PROGRESS_SECONDS = 0.25
TRIM_SECONDS = 1.0  # the heap is trimmed at most this often, after a commit
TEXTS_QUEUED = 32


def _never(_path: str) -> bool:
    return False


def _nothing(*_args: object) -> None:
    pass


@attrs.define
class Outcome:
    """What a pass did: files walked, parsed and written, found unchanged, forgotten."""

    walked: int = 0
    written: int = 0
    unchanged: int = 0
    forgotten: int = 0
    full: bool = False


@attrs.define
class _Root:
    path: str
    writer: StoreWriter
    reader: StoreReader


def _under(path: str, root: str) -> bool:
    return path.startswith(root) and path[len(root) : len(root) + 1] in ("", os.sep)


def _root_of(roots: Sequence[_Root], path: str) -> _Root | None:
    """The root a file belongs to: the first one holding it, as the walk goes."""
    return next((root for root in roots if _under(path, root.path)), None)


class Indexer:
    """The worker thread that fills and maintains the databases of the workspace roots."""

    def __init__(
        self,
        roots: Iterable[str | os.PathLike[str]],
        directory: Path,
        index: WorkspaceIndex,
        *,
        is_excluded: Callable[[str], bool] = _never,
        max_files: int = 20_000,
        max_file_bytes: int = 1_000_000,
        max_database_bytes: int = 512 * 2**20,
        busy: Callable[[], bool] = lambda: False,
        go: threading.Event | None = None,
        is_open: Callable[[str], bool] = _never,
        on_ready: Callable[[list[StoreReader]], None] = _nothing,
        on_progress: Callable[[int, int], None] = _nothing,
        on_indexed: Callable[[Outcome], None] = _nothing,
        on_done: Callable[[Outcome], None] = _nothing,
        on_text: Callable[[str, str], None] | None = None,
        wants_text: Callable[[], bool] = lambda: True,
        on_forget: Callable[[str], None] = _nothing,
    ) -> None:
        """Prepare (not start) the worker; ``directory`` holds the databases (``store.database_path``)."""
        self.roots = [os.path.abspath(os.fspath(r)) for r in roots]
        self.directory = directory
        self.index = index
        self.is_excluded = is_excluded
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.max_database_bytes = max_database_bytes
        self.busy = busy
        self.go = go or threading.Event()
        if go is None:
            self.go.set()
        self.is_open = is_open
        self.on_ready = on_ready
        self.on_progress = on_progress
        self.on_indexed = on_indexed
        self.on_done = on_done
        self.on_text = on_text
        self.wants_text = wants_text  # False: ``on_text`` would refuse any file (its learner is full)
        self.on_forget = on_forget
        self._commands: queue.SimpleQueue[tuple[str, tuple[str, ...]]] = queue.SimpleQueue()
        self._marks: dict[str, threading.Event] = {}
        # Texts for ``on_text``, learnt by a second thread while this one parses the next files (a
        # parse releases the GIL): bounded, so a slow learner holds the walk back instead of memory.
        self._texts: queue.Queue[tuple[str, str] | threading.Event | None] = queue.Queue(maxsize=TEXTS_QUEUED)
        self._teacher: threading.Thread | None = None
        self._near: tuple[str, ...] = ()
        self._near_modules: frozenset[str] = frozenset()
        self._reorder = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._roots: list[_Root] = []
        self._written: list[str] = []
        self._deferred: list[tuple[str, tuple[str, ...]]] = []
        self._batch_started = 0.0
        self._trimmed = 0.0

    # ---- control (any thread)

    def start(self) -> None:
        """Start the worker thread (its first pass begins at once)."""
        self._thread = threading.Thread(target=self._run, name="llm-lsp-indexer", daemon=True)
        if self.on_text is not None:
            self._teacher = threading.Thread(target=self._teach, name="llm-lsp-index-teacher", daemon=True)
            self._teacher.start()
        self._thread.start()

    def refresh(self, paths: Iterable[str]) -> None:
        """Re-check these files (changed on disk, created, deleted, saved) as soon as possible."""
        self._commands.put(("refresh", tuple(os.path.abspath(p) for p in paths)))

    def purge(self) -> None:
        """Drop what the privacy rules now exclude (they changed)."""
        self._commands.put(("purge", ()))

    def reoffer(self) -> None:
        """Offer every stored file to ``on_text`` again, nearest the open documents first.

        For a learner whose budget grew; it runs after the first pass, which offers them all anyway.
        """
        self._commands.put(("offer", ()))

    def prioritize(self, paths: Iterable[str], modules: Iterable[str] = ()) -> None:
        """Index the files near ``paths`` (open documents) and the Python ``modules`` they import first."""
        self._near = tuple(os.path.abspath(p) for p in paths)
        self._near_modules = frozenset(modules)
        self._reorder.set()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the work asked for so far (and the first pass) is done; False on timeout."""
        mark = threading.Event()
        key = str(id(mark))
        self._marks[key] = mark
        self._commands.put(("mark", (key,)))
        finished = mark.wait(timeout)
        self._marks.pop(key, None)
        return finished

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the worker (between two files) and close its connections."""
        self._stopping.set()
        self._commands.put(("stop", ()))
        if self._teacher is not None:
            with contextlib.suppress(queue.Full):
                self._texts.put_nowait(None)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def running(self) -> bool:
        """Whether the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # ---- the worker

    def _teach(self) -> None:
        """The second thread: hand the texts the worker read to ``on_text``, in order."""
        assert self.on_text is not None
        while True:
            item = self._texts.get()
            if item is None or self._stopping.is_set():
                return
            if isinstance(item, threading.Event):
                item.set()  # everything offered before it is learnt
                continue
            self._pause()
            try:
                self.on_text(*item)
            except Exception:
                log.exception("learning %s failed", item[0])

    def _offer(self, path: str, text: str) -> None:
        if self._teacher is not None and not self._stopping.is_set() and self.wants_text():
            self._texts.put((path, text))

    def _taught(self) -> None:
        """Wait until the texts offered so far are learnt (the first pass's end)."""
        if self._teacher is None:
            return
        mark = threading.Event()
        self._texts.put(mark)
        while not mark.wait(0.5):
            if self._stopping.is_set() or not self._teacher.is_alive():
                return

    def _run(self) -> None:
        previous = sys.getswitchinterval()
        try:
            sys.setswitchinterval(min(previous, WORKING_SWITCH_INTERVAL_S))
            outcome = self._first_pass()
            self._taught()
            sys.setswitchinterval(previous)
            self.on_done(outcome)
            for command, paths in self._deferred:
                self._handle(command, paths)
            self._deferred.clear()
            while not self._stopping.is_set():
                command, paths = self._commands.get()
                if command == "stop":
                    break
                sys.setswitchinterval(min(previous, WORKING_SWITCH_INTERVAL_S))
                try:
                    self._handle(command, paths)
                finally:
                    sys.setswitchinterval(previous)
        except Exception:
            log.exception("the workspace indexer stopped")
            # Whoever waits for the first pass hears of its end (an empty outcome, no readers).
            self.on_indexed(Outcome())
            self.on_done(Outcome())
        finally:
            sys.setswitchinterval(previous)
            for root in self._roots:
                root.writer.close()

    def _open(self) -> list[StoreReader]:
        """Open (checking, rebuilding) every root's database."""
        self._roots = []
        for path in self.roots:
            database = store.database_path(self.directory, path)
            writer = StoreWriter(database, path, self.max_database_bytes)
            self._roots.append(_Root(path, writer, StoreReader(database, path, writer.names)))
        return [root.reader for root in self._roots]

    def _purge(self, writer: StoreWriter, root: str) -> int:
        """Delete the rows of stored files the privacy rules exclude (or that lie outside ``root``)."""
        gone = []
        for path in writer.stamps():
            if not _under(path, root) or self._excluded(path):
                gone.append(path)
            self._step_aside()
        if gone:
            writer.delete(gone)
            writer.commit()
            self.index.note_written(gone)
            for path in gone:
                self.on_forget(path)
        return len(gone)

    def _excluded(self, path: str) -> bool:
        try:
            return bool(self.is_excluded(path))
        except Exception:  # fail closed: a path the gate cannot judge is not stored
            return True

    def _first_pass(self) -> Outcome:
        # Readers go in first: a lookup filters what it reads through the privacy gate anyway, so a
        # warm start answers from the database before the purge below has judged every stored path.
        readers = self._open()
        self.on_ready(readers)
        self._pause()  # the purge and the walk wait for the start-up imports a request needs (``go``)
        for root in self._roots:
            self._purge(root.writer, root.path)
        outcome = Outcome()
        stamps: dict[str, Stamp] = {}
        for root in self._roots:
            stamps.update(root.writer.stamps())
        walked: list[tuple[str, int, int]] = []
        for found in iter_workspace_files(self.roots, self._excluded, self.max_file_bytes, self.max_files):
            try:
                st = found.stat()
            except OSError:
                continue
            walked.append((str(found), st.st_size, st.st_mtime_ns))
            if self._stopping.is_set():
                return outcome
            self._step_aside()
        outcome.walked = len(walked)
        seen = {p for p, _, _ in walked}
        if len(walked) < self.max_files:  # a capped walk does not prove the rest gone
            vanished = [p for p in stamps if p not in seen]
            self._forget(vanished)
            outcome.forgotten = len(vanished)
        # (walk position, path, size, mtime) of the files to read; the end of the list goes first.
        changed = [
            (k, p, size, mtime)
            for k, (p, size, mtime) in enumerate(walked)
            if (s := stamps.get(p)) is None or (s.size, s.mtime_ns) != (size, mtime)
        ]
        outcome.unchanged = len(walked) - len(changed)
        order = changed[::-1]
        self._reorder.set()
        done = 0
        last_report = 0.0
        while order:
            if self._reorder.is_set():
                self._reorder.clear()
                order = self._ordered(order)
            self._drain_commands()
            if self._stopping.is_set():
                break
            _, path, size, mtime = order.pop()
            if self._index_file(path, size, mtime, stamps.get(path)):
                outcome.written += 1
            done += 1
            now = time.monotonic()
            if now - last_report > PROGRESS_SECONDS:
                last_report = now
                self.on_progress(done, len(changed))
            self._pause()
        self._commit()
        outcome.full = any(root.writer.full() for root in self._roots)
        self.on_indexed(outcome)
        if self._teacher is not None:
            # The offline engine is offered the unchanged files too, after the index is in step and
            # nearest the open documents first (it keeps what fits its budget).
            self._offer_all(
                [(k, p, size, mtime) for k, (p, size, mtime) in enumerate(walked) if p in stamps][::-1]
            )
        return outcome

    def _offer_all(self, pending: list[tuple[int, str, int, int]]) -> None:
        """Read these files and offer them to ``on_text``, nearest the open documents first."""
        if self._teacher is None:
            return
        rest = self._ordered(pending)
        while rest and not self._stopping.is_set() and self.wants_text():  # not read for nothing
            _, path, _, _ = rest.pop()
            if not self.is_open(path) and not self._excluded(path):
                data = read_source_bytes(path, self.max_file_bytes)
                if data is not None:
                    self._offer(path, decode_source(data))
                self._pause()

    def _ordered(self, pending: list[tuple[int, str, int, int]]) -> list[tuple[int, str, int, int]]:
        """``pending`` with the files near the open documents at its end (the end is done first).

        Files a Python open document imports come first, then by how many leading path components
        they share with an open document (its folder, then its parent...), then in walk order.
        """
        near, modules = self._near, self._near_modules
        if not near and not modules:
            return pending

        def rank(item: tuple[int, str, int, int]) -> tuple[int, int]:
            path = item[1]
            if modules and any(m in modules for m in python_module_names(path)):
                score = 1000
            else:
                score = max((shared_prefix(path, n) for n in near), default=0)
            return score, -item[0]

        return sorted(pending, key=rank)

    def _pause(self) -> None:
        """Let the event loop go first while it serves a request (between files, never mid-file).

        Otherwise no sleep: the shortened switch interval already hands the loop the GIL within a
        millisecond whenever it wants it (a ``sleep(0)`` per file cost 2 ms each on a busy machine).
        While a request waits for start-up imports (``go`` is clear) the pause lasts until they are
        done, waiting on the event: polling wakeups would take the interpreter from those imports.
        """
        if not self.go.is_set():
            self.go.wait(MAX_HOLD_S)
        waited = 0.0
        while self.busy() and waited < MAX_BUSY_WAIT_S and not self._stopping.is_set():
            time.sleep(BUSY_PAUSE_S)
            waited += BUSY_PAUSE_S

    def _step_aside(self) -> None:
        """Between two paths judged (about 60 us each): the start-up imports and the loop's steps first.

        Not ``_pause``: waiting while a request waits for its model, up to 10 ms a path, would make
        the walk of a big workspace crawl while the user types.
        """
        if not self.go.is_set():
            self.go.wait(MAX_HOLD_S)
        loop_steps.wait_while_stepping()

    def _index_file(self, path: str, size: int, mtime: int, stamp: Stamp | None) -> bool:
        """Bring one file's rows up to date; True when it was parsed and written."""
        root = _root_of(self._roots, path)
        if root is None:
            return False
        if self._excluded(path):
            self._forget([path])
            return False
        data = read_source_bytes(path, self.max_file_bytes)
        if data is None:
            if stamp is not None:
                self._forget([path])
            return False
        new = Stamp(size, mtime, store.content_hash(data))
        if stamp is not None and stamp.digest == new.digest:
            self._begin_batch()
            root.writer.touch(path, new)
            return False
        if stamp is None and root.writer.full():
            return False
        text = decode_source(data)
        loop_steps.wait_while_stepping()  # parsing a file is the long part: the loop's step first
        symbols = symbols_of(path, text, None, self.max_file_bytes)
        loop_steps.wait_while_stepping()
        if symbols is None and syntax.grammar_name(None, path) is None:
            # A language without a grammar: no symbols, but stored (its stamp spares the next start
            # a re-read) and offered to the offline engine like any other source.
            symbols = FileSymbols(path=os.path.abspath(path), grammar="", definitions=(), imports=())
        self._begin_batch()
        if symbols is None:
            root.writer.delete([path])
        else:
            modules = python_module_names(path) if symbols.grammar == "python" else []
            root.writer.put(symbols, new, modules)
        self._written.append(path)
        self._maybe_commit()
        if symbols is not None and not self.is_open(path):
            self._offer(path, text)
        return symbols is not None

    def _forget(self, paths: Sequence[str]) -> None:
        for path in paths:
            root = _root_of(self._roots, path)
            if root is not None:
                self._begin_batch()
                root.writer.delete([path])
                self._written.append(path)
            self.on_forget(path)
        self._maybe_commit()

    def _begin_batch(self) -> None:
        if not self._written and not self._batch_started:
            self._batch_started = time.monotonic()

    def _maybe_commit(self) -> None:
        if len(self._written) >= COMMIT_FILES or (
            self._batch_started and time.monotonic() - self._batch_started > COMMIT_SECONDS
        ):
            self._commit()

    def _commit(self) -> None:
        for root in self._roots:
            try:
                root.writer.commit()
            except Exception:
                log.exception("committing to %s failed", root.writer.path)
                root.writer.rollback()
        written, self._written = self._written, []
        self._batch_started = 0.0
        if written:
            self.index.note_written(written)
        now = time.monotonic()
        if now - self._trimmed > TRIM_SECONDS:
            # Parsing leaves freed blocks all over the heap: handed back as it goes, the resident
            # size of a cold index stays near its live size instead of climbing to its high-water
            # mark (CPython's standard library: 6 MiB less at the end).
            self._trimmed = now
            trim_heap()

    def _drain_commands(self) -> None:
        """Handle what arrived while a pass runs (saves and changes first: the user made them)."""
        while True:
            try:
                command, paths = self._commands.get_nowait()
            except queue.Empty:
                return
            if command == "stop":
                self._stopping.set()
                return
            if command in ("mark", "offer"):  # once the first pass is over
                self._deferred.append((command, paths))
                continue
            self._handle(command, paths)

    def _handle(self, command: str, paths: tuple[str, ...]) -> None:
        if command == "mark":
            self._commit()
            mark = self._marks.get(paths[0])
            if mark is not None:
                mark.set()
        elif command == "purge":
            for root in self._roots:
                self._commit()
                self._purge(root.writer, root.path)
        elif command == "refresh":
            for path in paths:
                self._refresh_one(path)
            self._commit()
        elif command == "offer":
            stamps: dict[str, Stamp] = {}
            for root in self._roots:
                stamps.update(root.writer.stamps())
            self._offer_all([(k, p, 0, 0) for k, p in enumerate(stamps)][::-1])

    def _refresh_one(self, path: str) -> None:
        root = _root_of(self._roots, path)
        if root is None:
            return
        stamp = root.writer.stamp_of(path)
        try:
            st = os.stat(path)
        except OSError:
            if stamp is not None:
                self._forget([path])
            return
        if stamp is not None and (stamp.size, stamp.mtime_ns) == (st.st_size, st.st_mtime_ns):
            return
        if st.st_size > self.max_file_bytes or not is_source_file(os.path.basename(path)):
            if stamp is not None:
                self._forget([path])
            return
        with contextlib.suppress(OSError):
            self._index_file(path, st.st_size, st.st_mtime_ns, stamp)
