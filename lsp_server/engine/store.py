"""The workspace index on disk: one SQLite database per workspace root.

Owns the database file of one root (``database_path``: the root's name and a hash of its real path,
under ``$XDG_CACHE_HOME/llm-lsp/index/``), its schema and version, the checks that make a corrupt,
foreign or outdated file be rebuilt instead of trusted, the size bound, and the two sides of it:

- ``StoreWriter``, used by one worker thread with its own connection: what each file defines and
  imports (``symbols.FileSymbols``), keyed by path, with the size, mtime and content hash it was read
  at, so an unchanged file is never read again and a touched one is re-parsed only if its bytes
  changed. Writes are batched into transactions; WAL mode lets readers go on meanwhile.
- ``StoreReader``, used on the event loop: indexed lookups (definitions by name, members by class,
  files by module name, directory or file name, one file's symbols) that return ``symbols`` records.

It must not walk the workspace, read source files, judge privacy or resolve names: the indexer decides
what is written (only files the privacy gate allows), ``index.py`` what a name means. Every query is an
indexed lookup, never a scan of the workspace. Errors from SQLite never escape a reader: a lookup that
fails answers nothing, and the damage is reported so the writer rebuilds the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from lsp_server.engine.symbols import Definition, FileSymbols, Import, ImportedName, bindings_of

log = logging.getLogger(__name__)

# Bump when the tables or what they hold change: an older file is rebuilt, never read.
SCHEMA_VERSION = 1
# SQLite's application_id header field: a file that is a database of something else is foreign.
APPLICATION_ID = 0x6C6C6D69  # "llmi"
# How long a connection waits for another one's write lock (two servers on one root share the file).
BUSY_TIMEOUT_S = 5.0

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    base TEXT NOT NULL,
    dir TEXT NOT NULL,
    grammar TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    hash BLOB NOT NULL,
    imports TEXT NOT NULL
);
CREATE INDEX files_base ON files (base);
CREATE INDEX files_dir ON files (dir);
CREATE TABLE defs (
    file INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    line INTEGER NOT NULL,
    signature TEXT NOT NULL,
    doc TEXT NOT NULL,
    container TEXT,
    type_name TEXT,
    PRIMARY KEY (file, seq)
) WITHOUT ROWID;
CREATE INDEX defs_name ON defs (name);
CREATE INDEX defs_container ON defs (container) WHERE container IS NOT NULL;
CREATE TABLE modules (module TEXT NOT NULL, file INTEGER NOT NULL, PRIMARY KEY (module, file)) WITHOUT ROWID;
CREATE INDEX modules_file ON modules (file);
"""
_TABLES = frozenset({"meta", "files", "defs", "modules"})

_DEF_COLUMNS = "f.path, d.name, d.kind, d.line, d.signature, d.doc, d.container, d.type_name"


@attrs.frozen
class Stamp:
    """What a file was when it was indexed: size and mtime (checked first), then a hash of its bytes."""

    size: int
    mtime_ns: int
    digest: bytes


def content_hash(data: bytes) -> bytes:
    """The content hash stored per file (16 bytes of BLAKE2b: collisions are not a concern here)."""
    return hashlib.blake2b(data, digest_size=16).digest()


def database_path(directory: Path, root: str | os.PathLike[str]) -> Path:
    """Where the database of ``root`` lives: ``<root name>-<16 hex of its real path's hash>.sqlite3``.

    The name makes the cache folder readable for a user clearing it by hand; the hash keeps two
    folders of the same name apart.
    """
    real = os.path.realpath(os.fspath(root))
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(real.rstrip(os.sep)))[:40] or "root"
    return directory / f"{name}-{digest}.sqlite3"


def remove_database(path: Path) -> None:
    """Delete a database file and its WAL and shared-memory companions (missing ones are fine)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _connect(path: Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=check_same_thread
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # a cache: losing the last transaction on power loss is fine
    # 1 MiB of page cache per connection (SQLite's default is 2): lookups touch a few index pages,
    # and the operating system's file cache holds the rest.
    conn.execute("PRAGMA cache_size=-1024")
    return conn


class NameFilter:
    """A Bloom filter of the names defined outside any class: a name never seen is "no" without a query.

    Most names near a cursor (locals, builtins, attributes) are defined nowhere in the workspace,
    and each cost a query of the by-name fallback. 1 MiB of bits and three probes keep false
    positives (which only cost that query) near 1% up to ~700k names. Names of deleted files stay
    set: also only a query. The writer sets a name's bits before it commits the name's rows.
    """

    BITS = 2**23

    def __init__(self) -> None:
        self.bits = bytearray(self.BITS // 8)

    @classmethod
    def _probes(cls, name: str) -> tuple[int, int, int]:
        first, second = hash(name), hash((name, 1))
        mask = cls.BITS - 1
        return first & mask, second & mask, (first >> 32) & mask

    def add(self, name: str) -> None:
        bits = self.bits
        for probe in self._probes(name):
            bits[probe >> 3] |= 1 << (probe & 7)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        bits = self.bits
        return all(bits[probe >> 3] & (1 << (probe & 7)) for probe in self._probes(name))


class CorruptDatabase(Exception):
    """The file is not a usable index of this root (corrupt, foreign, or of another schema)."""


def _check(conn: sqlite3.Connection, root: str) -> None:
    """Raise ``CorruptDatabase`` unless ``conn`` holds a sound index of ``root`` in this schema."""
    (app,) = conn.execute("PRAGMA application_id").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if app != APPLICATION_ID or version != SCHEMA_VERSION:
        raise CorruptDatabase(f"application id {app:#x}, schema {version} (expected {SCHEMA_VERSION})")
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables != _TABLES:
        raise CorruptDatabase(f"unexpected tables {sorted(tables)}")
    found = conn.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
    if found is None or found[0] != root:
        raise CorruptDatabase(f"index of {found[0] if found else 'no root'!r}, not of {root!r}")
    verdict = conn.execute("PRAGMA quick_check").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise CorruptDatabase(f"quick_check: {verdict[0] if verdict else 'no answer'}")


def _create(conn: sqlite3.Connection, root: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another server on the same root may have created it between our check and this lock.
        if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
            # One statement at a time: executescript would commit the transaction that holds the lock.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("INSERT INTO meta (key, value) VALUES ('root', ?)", (root,))
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def open_database(path: Path, root: str) -> tuple[sqlite3.Connection, bool]:
    """A checked connection to the index of ``root`` at ``path`` (created or rebuilt as needed).

    Returns the connection and whether an existing file was rebuilt (corrupt, foreign, outdated).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    rebuilt = False
    for attempt in range(2):
        conn = None
        try:
            conn = _connect(path)
            fresh = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
            if fresh:
                _create(conn, root)
            _check(conn, root)
            return conn, rebuilt
        except (sqlite3.Error, CorruptDatabase) as exc:
            if conn is not None:
                conn.close()
            if attempt:
                raise
            log.warning("index database %s is unusable (%s): rebuilding it", path, exc)
            remove_database(path)
            rebuilt = True
    raise AssertionError("unreachable")


def _imports_json(imports: Sequence[Import]) -> str:
    return json.dumps(
        [[i.module, [[n.name, n.alias] for n in i.names], i.alias, i.level, i.line] for i in imports],
        separators=(",", ":"),
    )


def _imports_from_json(text: str) -> tuple[Import, ...]:
    return tuple(
        Import(module, tuple(ImportedName(n, a) for n, a in names), alias, level, line)
        for module, names, alias, level, line in json.loads(text)
    )


class StoreWriter:
    """The writing side of one root's database; one worker thread owns it (and its connection)."""

    def __init__(self, path: Path, root: str, max_bytes: int) -> None:
        """Open (creating, or rebuilding when unusable) the database of ``root`` at ``path``."""
        self.path = path
        self.root = root
        self.max_bytes = max_bytes
        self.conn, self.rebuilt = open_database(path, root)
        self.conn.execute("PRAGMA journal_size_limit = 8388608")
        (self._page_size,) = self.conn.execute("PRAGMA page_size").fetchone()
        self._in_transaction = False
        self.names = NameFilter()
        for (name,) in self.conn.execute("SELECT DISTINCT name FROM defs WHERE container IS NULL"):
            self.names.add(name)

    def stamps(self) -> dict[str, Stamp]:
        """Every stored path with the stamp it was indexed at."""
        return {
            path: Stamp(size, mtime, bytes(digest))
            for path, size, mtime, digest in self.conn.execute("SELECT path, size, mtime, hash FROM files")
        }

    def stamp_of(self, path: str) -> Stamp | None:
        """The stamp one stored file was indexed at, or None."""
        row = self.conn.execute("SELECT size, mtime, hash FROM files WHERE path = ?", (path,)).fetchone()
        return Stamp(row[0], row[1], bytes(row[2])) if row else None

    def _begin(self) -> None:
        if not self._in_transaction:
            self.conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True

    def put(self, symbols: FileSymbols, stamp: Stamp, modules: Iterable[str]) -> None:
        """Store (or replace) what one file defines and imports, read at ``stamp``."""
        self._begin()
        path = symbols.path
        self._delete_rows(path)
        cursor = self.conn.execute(
            "INSERT INTO files (path, base, dir, grammar, size, mtime, hash, imports) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                path,
                os.path.basename(path),
                os.path.basename(os.path.dirname(path)),
                symbols.grammar,
                stamp.size,
                stamp.mtime_ns,
                stamp.digest,
                _imports_json(symbols.imports),
            ),
        )
        file_id = cursor.lastrowid
        for d in symbols.definitions:
            if d.container is None:
                self.names.add(d.name)
        self.conn.executemany(
            "INSERT INTO defs (file, seq, name, kind, line, signature, doc, container, type_name) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (file_id, seq, d.name, d.kind, d.line, d.signature, d.doc, d.container, d.type_name)
                for seq, d in enumerate(symbols.definitions)
            ],
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO modules (module, file) VALUES (?, ?)", [(m, file_id) for m in modules]
        )

    def touch(self, path: str, stamp: Stamp) -> None:
        """Record a new size and mtime for a file whose bytes did not change (nothing is re-parsed)."""
        self._begin()
        self.conn.execute(
            "UPDATE files SET size = ?, mtime = ? WHERE path = ?", (stamp.size, stamp.mtime_ns, path)
        )

    def delete(self, paths: Iterable[str]) -> None:
        """Forget files (deleted, moved, newly excluded)."""
        self._begin()
        for path in paths:
            self._delete_rows(path)

    def _delete_rows(self, path: str) -> None:
        found = self.conn.execute("SELECT id FROM files WHERE path = ?", (path,)).fetchone()
        if found is None:
            return
        (file_id,) = found
        self.conn.execute("DELETE FROM defs WHERE file = ?", (file_id,))
        self.conn.execute("DELETE FROM modules WHERE file = ?", (file_id,))
        self.conn.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def commit(self) -> None:
        """End the current batch: readers see it from their next lookup on."""
        if self._in_transaction:
            self._in_transaction = False
            self.conn.execute("COMMIT")

    def rollback(self) -> None:
        """Drop the current batch (a write failed half-way)."""
        if self._in_transaction:
            self._in_transaction = False
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    def used_bytes(self) -> int:
        """Bytes the live pages take (pages on the free list are reused before the file grows)."""
        (pages,) = self.conn.execute("PRAGMA page_count").fetchone()
        (free,) = self.conn.execute("PRAGMA freelist_count").fetchone()
        return (pages - free) * self._page_size

    def full(self) -> bool:
        """Whether the database reached its size bound (``index.maxDatabaseMB``): no new files then."""
        return self.used_bytes() >= self.max_bytes

    def close(self) -> None:
        """Commit what is pending and close the connection."""
        with contextlib.suppress(sqlite3.Error):
            self.commit()
            self.conn.close()


class StoreReader:
    """The reading side of one root's database, for the event loop; lookups never raise.

    A lookup that hits a SQLite error (the file was damaged or removed under us) answers nothing and
    sets ``damaged``, which the indexer checks to rebuild the database.
    """

    def __init__(self, path: Path, root: str, names: NameFilter | None = None) -> None:
        """Connect to a database the writer has checked (``open_database``) beforehand.

        ``names``: the writer's filter of top-level names (None: every name may be defined).
        """
        self.path = path
        self.root = root
        self.names = names
        self.damaged = False
        # check_same_thread off, lock on: tests and the CLI may read from another thread than the loop.
        self._conn = _connect(path, check_same_thread=False)
        self._conn.execute("PRAGMA query_only = 1")
        self._lock = threading.Lock()

    def _rows(self, sql: str, args: tuple = ()) -> list[tuple]:
        if self.damaged:
            return []
        try:
            with self._lock:
                return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            log.warning("index database %s failed a lookup (%s): it will be rebuilt", self.path, exc)
            self.damaged = True
            return []

    def has(self, path: str) -> bool:
        """Whether ``path`` is indexed."""
        return bool(self._rows("SELECT 1 FROM files WHERE path = ?", (path,)))

    def count(self) -> int:
        """Number of indexed files."""
        rows = self._rows("SELECT count(*) FROM files")
        return int(rows[0][0]) if rows else 0

    def paths(self) -> list[str]:
        """Every indexed path."""
        return [row[0] for row in self._rows("SELECT path FROM files ORDER BY id")]

    def head(self, path: str) -> tuple[str, tuple[Import, ...]] | None:
        """A file's grammar and imports, without its definitions (cheap: one row)."""
        rows = self._rows("SELECT grammar, imports FROM files WHERE path = ?", (path,))
        if not rows:
            return None
        grammar, imports = rows[0]
        return grammar, _imports_from_json(imports)

    def symbols(self, path: str) -> FileSymbols | None:
        """Everything stored for one file, as ``FileSymbols``."""
        head = self.head(path)
        if head is None:
            return None
        grammar, imports = head
        definitions = self._definitions("WHERE f.path = ? ORDER BY d.seq", (path,))
        return FileSymbols(
            path=path,
            grammar=grammar,
            definitions=tuple(definitions),
            imports=imports,
            bindings=bindings_of(imports, grammar),
        )

    def _definitions(self, where: str, args: tuple) -> list[Definition]:
        return [
            Definition(name, kind, path, line, signature, doc, container, type_name)
            for path, name, kind, line, signature, doc, container, type_name in self._rows(
                f"SELECT {_DEF_COLUMNS} FROM defs d JOIN files f ON f.id = d.file {where}", args
            )
        ]

    def definitions(
        self, name: str, kinds: frozenset[str] | None = None, limit: int | None = None
    ) -> list[Definition]:
        """Definitions called ``name`` (of ``kinds`` only, at most ``limit``), in indexing order."""
        where = "WHERE d.name = ?"
        args: tuple[str, ...] = (name,)
        if kinds is not None:
            where += f" AND d.kind IN ({','.join('?' * len(kinds))})"
            args += tuple(sorted(kinds))
        where += " ORDER BY d.file, d.seq"
        if limit is not None:
            where += f" LIMIT {int(limit)}"
        return self._definitions(where, args)

    def top_level_named(self, name: str, max_files: int) -> list[Definition] | None:
        """Definitions called ``name`` outside any class; None when more than ``max_files`` files have one.

        Common names (``main``, ``setUp``...) are defined in thousands of files: the count stops at
        ``max_files + 1`` instead of reading them all.
        """
        if self.names is not None and name not in self.names:
            return []
        files = self._rows(
            "SELECT DISTINCT file FROM defs WHERE name = ? AND container IS NULL LIMIT ?",
            (name, max_files + 1),
        )
        if len(files) > max_files:
            return None
        if not files:
            return []
        return self._definitions("WHERE d.name = ? AND d.container IS NULL ORDER BY d.file, d.seq", (name,))

    def members(
        self, container: str, path: str | None = None, directory: str | None = None
    ) -> list[Definition]:
        """Definitions inside classes (or types) called ``container``.

        Only those in file ``path`` when given, else in files whose directory is called ``directory``.
        """
        if path is not None:
            return self._definitions("WHERE d.container = ? AND f.path = ? ORDER BY d.seq", (container, path))
        if directory is not None:
            return self._definitions(
                "WHERE d.container = ? AND f.dir = ? ORDER BY d.file, d.seq", (container, directory)
            )
        return self._definitions("WHERE d.container = ? ORDER BY d.file, d.seq", (container,))

    def top_level(self, path: str, name: str | None = None) -> list[Definition]:
        """The definitions of one file outside any class (only those called ``name`` when given)."""
        if name is None:
            return self._definitions("WHERE f.path = ? AND d.container IS NULL ORDER BY d.seq", (path,))
        return self._definitions(
            "WHERE f.path = ? AND d.name = ? AND d.container IS NULL ORDER BY d.seq", (path, name)
        )

    def module_paths(self, module: str) -> list[str]:
        """Files a dotted Python module name may denote (see ``index.python_module_names``)."""
        return [
            row[0]
            for row in self._rows(
                "SELECT f.path FROM modules m JOIN files f ON f.id = m.file WHERE m.module = ? ORDER BY f.id",
                (module,),
            )
        ]

    def paths_in_dir(self, dir_name: str) -> list[str]:
        """Files whose directory is called ``dir_name`` (Go packages)."""
        return [row[0] for row in self._rows("SELECT path FROM files WHERE dir = ? ORDER BY id", (dir_name,))]

    def paths_named(self, base_name: str) -> list[str]:
        """Files called ``base_name`` (C includes)."""
        return [
            row[0] for row in self._rows("SELECT path FROM files WHERE base = ? ORDER BY id", (base_name,))
        ]

    def close(self) -> None:
        """Close the connection."""
        with contextlib.suppress(sqlite3.Error), self._lock:
            self._conn.close()
