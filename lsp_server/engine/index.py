"""The workspace symbol index: definitions and imports of every source file, and what names mean.

Owns walking the workspace (skipping vendored, generated, binary and excluded files), extracting per
file the definitions (functions, classes, methods, fields, module-level names, with signature line(s),
doc and enclosing class) and imports (module, names, aliases) with tree-sitter queries, and resolving
a name as seen from one file (through its imports, then its own definitions, then by name) to the
definitions it means.

It must not know about LSP, pygls or any model, and must not decide what goes into a prompt
(``context.py`` does). It reads files only while building; every query is a dictionary lookup, never a
walk of the workspace. Building is a generator so the server can run it in the background, report
progress and stop between files. One writer (the server) mutates the index; readers get copies.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from lsp_server.core import syntax
from lsp_server.engine.store import StoreReader
from lsp_server.engine.symbols import (
    TYPE_KINDS,
    Binding,
    Definition,
    FileSymbols,
    Import,
    bindings_of,
    extract,
)
from lsp_server.engine.walk import iter_workspace_files, read_source

__all__ = [
    "WorkspaceIndex",
    "base_names",
    "iter_workspace_files",
    "python_module_names",
    "read_source",
    "shared_prefix",
    "symbols_of",
]

log = logging.getLogger(__name__)

MAX_AMBIGUOUS = 4
K = TypeVar("K")
V = TypeVar("V")


def _never(_path: str) -> bool:
    return False


# --------------------------------------------------------------------------------------------------
# Extraction: tree-sitter queries per grammar. Captures: @def.<kind> on the definition node, @name on
# its name, optionally @container (C++ ``void A::f()``); @def.selffield marks ``self.x = ...`` /
# ``this.x = ...`` assignments, which live inside methods but belong to the class.

_PY_SUFFIXES = (".py", ".pyi", ".pyw")
_JS_EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_MODULE_DEPTH = 8


def python_module_names(path: str) -> list[str]:
    """Every dotted suffix a Python file could be imported as (``a/b/c.py`` -> c, b.c, a.b.c).

    Suffixes rather than one name because the import root (``src/``, a site-packages dir, the workspace
    root) is unknown; resolution picks the candidate nearest the importing file.
    """
    stem, ext = posixpath.splitext(path.replace(os.sep, "/"))
    if ext not in _PY_SUFFIXES:
        return []
    parts = [p for p in stem.split("/") if p]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    names = []
    for i in range(len(parts) - 1, max(-1, len(parts) - 1 - _MODULE_DEPTH), -1):
        if not parts[i].isidentifier():
            break
        names.append(".".join(parts[i:]))
    return names


def shared_prefix(a: str, b: str) -> int:
    """How many leading path components two paths share (proximity for ranking candidates)."""
    n = 0
    for x, y in zip(a.split(os.sep), b.split(os.sep), strict=False):
        if x != y:
            break
        n += 1
    return n


def symbols_of(
    path: str, text: str, language_id: str | None = None, max_file_bytes: int = 1_000_000
) -> FileSymbols | None:
    """What one file defines and imports, or None (too big, no grammar, or the grammar failed).

    The size cap of the workspace walk holds for open documents too: a huge file would otherwise
    hold the server while it parses.
    """
    if len(text) > max_file_bytes:
        return None
    key = os.path.abspath(path)
    try:
        return extract(key, text, syntax.grammar_of(language_id, key, text))
    except Exception as exc:  # a grammar bug on one file must not stop a workspace build
        log.warning("indexing %s failed: %s", key, exc)
        return None


# --------------------------------------------------------------------------------------------------
# The index


class _Memory:
    """Files indexed from text held in memory: open documents (their unsaved text), tests and benches.

    Dictionaries keyed by path and by name, so every lookup is O(answers). It shadows the databases:
    a path held here is answered from here only.
    """

    def __init__(self) -> None:
        self.files: dict[str, FileSymbols] = {}
        self.by_name: dict[str, list[Definition]] = {}
        self.members: dict[str, list[Definition]] = {}
        self.modules: dict[str, list[str]] = {}
        # file name -> paths, and directory name -> paths: C includes and Go packages resolve by these.
        self.by_file_name: dict[str, list[str]] = {}
        self.by_dir_name: dict[str, list[str]] = {}

    def add(self, key: str, symbols: FileSymbols) -> None:
        self.remove(key)
        self.files[key] = symbols
        for definition in symbols.definitions:
            self.by_name.setdefault(definition.name, []).append(definition)
            if definition.container:
                self.members.setdefault(definition.container, []).append(definition)
        for module in python_module_names(key) if symbols.grammar == "python" else ():
            self.modules.setdefault(module, []).append(key)
        self.by_file_name.setdefault(os.path.basename(key), []).append(key)
        self.by_dir_name.setdefault(_dir_name(key), []).append(key)

    def remove(self, key: str) -> bool:
        symbols = self.files.pop(key, None)
        if symbols is None:
            return False
        for definition in symbols.definitions:
            _discard(self.by_name, definition.name, key)
            if definition.container:
                _discard(self.members, definition.container, key)
        for table, names in (
            (self.modules, python_module_names(key)),
            (self.by_file_name, [os.path.basename(key)]),
            (self.by_dir_name, [_dir_name(key)]),
        ):
            for name in names:
                paths = table.get(name)
                if paths and key in paths:
                    # A new list, not an in-place removal: a reader on another thread may be iterating.
                    kept = [p for p in paths if p != key]
                    if kept:
                        table[name] = kept
                    else:
                        del table[name]
        return True


# Bytes the cache of files' symbols read from the databases may hold (see ``_symbol_cost``). A request
# resolves names through a few dozen files at most; 8 MiB keep the files of several requests.
SYMBOLS_CACHE_BYTES = 8 * 2**20
# Bytes charged per definition besides its text: the attrs object, its strings' headers, list slots.
_DEFINITION_OVERHEAD = 320


def _symbol_cost(symbols: FileSymbols) -> int:
    """An estimate of the memory one file's ``FileSymbols`` takes (measured: within 30% on the stdlib)."""
    cost = 1000 + 200 * len(symbols.imports)
    for d in symbols.definitions:
        cost += _DEFINITION_OVERHEAD + len(d.signature) + len(d.doc) + 2 * len(d.name)
    return cost


class _Lru(Generic[K, V]):
    """Values by key, least recently used dropped first, bounded in bytes as ``cost`` estimates them.

    The same object is handed out for as long as its entry lives, so callers may key their own
    caches by it (``providers.scope.IndexNames`` does with files' symbols); a re-indexed file gets a
    new object.
    """

    def __init__(self, budget: int, cost: Callable[[V], int]) -> None:
        self.budget = budget
        self.cost = cost
        self.used = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K, default: Any = None) -> Any:
        found = self._entries.get(key)
        if found is None:
            return default
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V) -> None:
        self.drop(key)
        cost = self.cost(value)
        if cost > self.budget:
            return
        self._entries[key] = (value, cost)
        self.used += cost
        while self.used > self.budget:
            self.used -= self._entries.popitem(last=False)[1][1]

    def drop(self, key: K) -> None:
        found = self._entries.pop(key, None)
        if found is not None:
            self.used -= found[1]

    def clear(self) -> None:
        self._entries.clear()
        self.used = 0

    def __len__(self) -> int:
        return len(self._entries)


# Bytes the cache of the databases' answers may hold (see ``_answer_cost``). Requests ask the same
# questions again and again while one types (the names near the cursor); every write empties it.
ANSWERS_CACHE_BYTES = 4 * 2**20
_MISSING = object()


def _answer_cost(value: object) -> int:
    """An estimate of the memory an answer takes: definitions about 400 bytes each, paths 120."""
    if isinstance(value, list):
        return 120 + sum(400 if isinstance(v, Definition) else 120 for v in value)
    return 120


class WorkspaceIndex:
    """Definitions and imports of the workspace's files, with resolution of names across files.

    Two layers answer every lookup: files added from text (``add_file``: open documents, whose
    unsaved text wins) in memory, and the databases of the workspace roots (``attach``: one
    ``StoreReader`` per root, filled by the indexer's worker thread). Every lookup is a dictionary
    or an indexed SQL lookup, O(answers), never O(workspace); files read from a database are kept in
    a cache bounded in bytes. Files that ``is_excluded`` rejects are never stored, whichever way
    they arrive. Used from the event loop; the worker tells it what it rewrote (``note_written``,
    thread-safe) and the next lookup drops those files from the cache.
    """

    def __init__(
        self,
        is_excluded: Callable[[str], bool] = _never,
        max_files: int = 20_000,
        max_file_bytes: int = 1_000_000,
        cache_bytes: int = SYMBOLS_CACHE_BYTES,
    ) -> None:
        """Create an empty index; ``is_excluded`` is the privacy gate's verdict on a path."""
        self.is_excluded = is_excluded
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self._memory = _Memory()
        self._stamps: dict[str, tuple[int, int]] = {}
        self._readers: list[StoreReader] = []
        self._cache: _Lru[str, FileSymbols] = _Lru(cache_bytes, _symbol_cost)
        self._heads: OrderedDict[str, tuple[str, dict[str, Binding]]] = OrderedDict()
        self._answers: _Lru[tuple, object] = _Lru(ANSWERS_CACHE_BYTES, _answer_cost)
        self._written: deque[str | None] = deque()

    # ---- the databases

    def attach(self, reader: StoreReader) -> None:
        """Answer from one root's database too (the indexer checked it first)."""
        self._readers.append(reader)
        self._forget_cached()

    def detach(self) -> list[StoreReader]:
        """Stop reading every database; returns the readers for the caller to close."""
        readers, self._readers = self._readers, []
        self._forget_cached()
        return readers

    @property
    def readers(self) -> list[StoreReader]:
        """The databases answering lookups (a copy)."""
        return list(self._readers)

    def note_written(self, paths: Iterable[str] | None) -> None:
        """The worker committed new rows for ``paths`` (None: possibly anything); thread-safe."""
        if paths is None:
            self._written.append(None)
        else:
            self._written.extend(paths)

    def _sync(self) -> None:
        """Drop cached files the worker rewrote since the last lookup, and every cached answer."""
        written = self._written
        if written:
            self._answers.clear()
        while written:
            path = written.popleft()
            if path is None:
                self._forget_cached()
            else:
                self._cache.drop(path)
                self._heads.pop(path, None)

    def _forget_cached(self) -> None:
        self._cache.clear()
        self._heads.clear()
        self._answers.clear()

    def _ask(self, reader: StoreReader, question: str, *args: object) -> Any:
        """``reader.question(*args)``, from the answers cache when asked since the last write."""
        key = (id(reader), question, *args)
        found = self._answers.get(key, _MISSING)
        if found is _MISSING:
            found = getattr(reader, question)(*args)
            if not reader.damaged:
                self._answers.put(key, found)
        return found

    def _reader_for(self, key: str) -> StoreReader | None:
        """The database a path belongs to: the first root holding it (the walk's order).

        None for a path the privacy rules exclude: rows of a file excluded since it was stored are
        never read, even before the indexer has purged them.
        """
        if not self._readers or self.is_excluded(key):
            return None
        for reader in self._readers:
            root = reader.root
            if key.startswith(root) and (len(key) == len(root) or key[len(root)] == os.sep):
                return reader
        return None

    # ---- mutation (the memory layer)

    def add_file(self, path: str | os.PathLike[str], text: str, language_id: str | None = None) -> bool:
        """Index (or re-index) one file from its text; False when excluded, unparseable or over the cap.

        The text is held in memory and shadows the file's database entry until ``remove_file``.
        """
        key = os.path.abspath(os.fspath(path))
        if self.is_excluded(key):
            self.remove_file(key)
            return False
        if key not in self._memory.files and len(self._memory.files) >= self.max_files:
            return False
        symbols = symbols_of(key, text, language_id, self.max_file_bytes)
        if symbols is None:
            self.remove_file(key)
            return False
        return self.add_symbols(key, symbols)

    def add_symbols(self, path: str, symbols: FileSymbols) -> bool:
        """Hold symbols extracted elsewhere (a worker thread) for ``path``, as ``add_file`` would."""
        key = os.path.abspath(path)
        if self.is_excluded(key):
            self.remove_file(key)
            return False
        if key not in self._memory.files and len(self._memory.files) >= self.max_files:
            return False
        self._memory.add(key, symbols)
        return True

    def remove_file(self, path: str | os.PathLike[str]) -> None:
        """Forget the text held for one file; its database entry (the file on disk) answers again."""
        key = os.path.abspath(os.fspath(path))
        self._stamps.pop(key, None)
        self._memory.remove(key)

    def held_paths(self) -> list[str]:
        """The paths answered from text held in memory (open documents' buffers)."""
        return list(self._memory.files)

    def held(self, path: str) -> bool:
        """Whether ``path`` is answered from text held in memory (not from a database)."""
        return os.path.abspath(path) in self._memory.files

    def build(
        self, roots: Iterable[str | os.PathLike[str]], skip: Callable[[str], bool] = _never
    ) -> Iterator[tuple[str, str | None]]:
        """Index every workspace file under ``roots`` into memory, file by file (tests and benches).

        Yields ``(path, text)`` after each file: ``text`` is what was newly indexed, ``None`` when the
        file was unchanged since the last build (same mtime and size), unreadable, or ``skip``ped.
        The server does not use this: its worker thread indexes into the databases (``indexer.py``).
        """
        roots = [os.path.abspath(os.fspath(r)) for r in roots]
        for path in iter_workspace_files(roots, self.is_excluded, self.max_file_bytes, self.max_files):
            key = str(path)
            text = None
            try:
                st = path.stat()
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            if self._stamps.get(key) != stamp and not skip(key):
                text = read_source(path, self.max_file_bytes)
                # A language without a grammar adds no symbols, but its text is still news.
                if text is not None and (self.add_file(key, text) or syntax.grammar_name(None, key) is None):
                    self._stamps[key] = stamp
                else:
                    text = None
            yield key, text

    # ---- the two layers, merged

    def _symbols(self, key: str) -> FileSymbols | None:
        """One file's symbols: the memory layer's, else its database's (cached)."""
        held = self._memory.files.get(key)
        if held is not None or not self._readers:
            return held
        self._sync()
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        reader = self._reader_for(key)
        symbols = reader.symbols(key) if reader is not None else None
        if symbols is not None:
            self._cache.put(key, symbols)
        return symbols

    def _head(self, key: str) -> tuple[str, dict[str, Binding]] | None:
        """(grammar, bindings) of one file, without reading its definitions from a database."""
        held = self._memory.files.get(key)
        if held is not None:
            return held.grammar, held.bindings
        if not self._readers:
            return None
        self._sync()
        cached = self._cache.get(key)
        if cached is not None:
            return cached.grammar, cached.bindings
        head = self._heads.get(key)
        if head is not None:
            self._heads.move_to_end(key)
            return head
        reader = self._reader_for(key)
        found = reader.head(key) if reader is not None else None
        if found is None:
            return None
        head = (found[0], bindings_of(found[1], found[0]))
        self._heads[key] = head
        while len(self._heads) > _MAX_HEADS:
            self._heads.popitem(last=False)
        return head

    def _has(self, key: str) -> bool:
        if key in self._memory.files:
            return True
        reader = self._reader_for(key)
        return reader is not None and bool(self._ask(reader, "has", key))

    def _from_readers(self, found: list[Definition]) -> list[Definition]:
        """Database rows whose file is neither shadowed by the memory layer nor now excluded."""
        held, excluded = self._memory.files, self.is_excluded
        return [d for d in found if d.path not in held and not excluded(d.path)]

    def _paths(self, table: dict[str, list[str]], name: str, lookup: str) -> list[str]:
        paths = list(table.get(name, ()))
        held, excluded = self._memory.files, self.is_excluded
        for reader in self._readers:
            paths.extend(p for p in self._ask(reader, lookup, name) if p not in held and not excluded(p))
        return paths

    # ---- queries

    def __len__(self) -> int:
        """Number of indexed files."""
        return len(self.paths())

    def __contains__(self, path: object) -> bool:
        """Whether a file is indexed."""
        return isinstance(path, str) and self._has(os.path.abspath(path))

    def paths(self) -> list[str]:
        """Every indexed path (a new list: O(workspace), for tests and maintenance only)."""
        paths = list(self._memory.files)
        held = set(paths)
        for reader in self._readers:
            paths.extend(p for p in reader.paths() if p not in held and not self.is_excluded(p))
        return paths

    def file_symbols(self, path: str) -> FileSymbols | None:
        """What the index holds for one file, or None."""
        return self._symbols(os.path.abspath(path))

    def imports(self, path: str) -> tuple[Import, ...]:
        """The imports of one indexed file (empty when not indexed)."""
        symbols = self.file_symbols(path)
        return symbols.imports if symbols else ()

    def definitions(
        self, name: str, *, kinds: frozenset[str] | None = None, limit: int | None = None
    ) -> list[Definition]:
        """Definitions of ``name`` in the workspace (a new list), of ``kinds`` only and at most ``limit``."""
        found = [d for d in self._memory.by_name.get(name, ()) if kinds is None or d.kind in kinds]
        if self._readers:
            self._sync()
            for reader in self._readers:
                found.extend(self._from_readers(self._ask(reader, "definitions", name, kinds, limit)))
        return found if limit is None else found[:limit]

    def members(self, class_name: str, path: str | None = None) -> list[Definition]:
        """Members of every class called ``class_name`` (only the one in ``path`` when given)."""
        members = self._memory.members.get(class_name, ())
        key = os.path.abspath(path) if path is not None else None
        if key is not None and key in self._memory.files:
            return [m for m in members if m.path == key]
        found = [m for m in members if key is None or m.path == key]
        if self._readers:
            self._sync()
            readers = self._readers if key is None else [r for r in (self._reader_for(key),) if r is not None]
            for reader in readers:
                found.extend(self._from_readers(self._ask(reader, "members", class_name, key)))
        return found

    def members_of(self, cls: Definition) -> list[Definition]:
        """Members of one class definition: those in its file, else any of that name (Go, Rust, C++)."""
        own = self.members(cls.name, cls.path)
        if own:
            return own
        directory = cls.path.rsplit(os.sep, 1)[0]
        found = [
            m for m in self._memory.members.get(cls.name, ()) if m.path.rsplit(os.sep, 1)[0] == directory
        ]
        if self._readers:
            self._sync()
            for reader in self._readers:
                rows = self._ask(reader, "members", cls.name, None, _dir_name(cls.path))
                found.extend(m for m in self._from_readers(rows) if m.path.rsplit(os.sep, 1)[0] == directory)
        return found

    # ---- resolution

    def module_files(self, from_path: str, imp: Import) -> list[str]:
        """The indexed files an import refers to, nearest first (empty for external modules)."""
        from_path = os.path.abspath(from_path)
        head = self._head(from_path)
        grammar = head[0] if head else syntax.grammar_name(None, from_path)
        if grammar == "python":
            return self._python_module_files(from_path, imp.module, imp.level)
        if grammar in {"javascript", "typescript", "tsx"}:
            return self._relative_files(from_path, imp.module, _JS_EXTENSIONS, ("index",))
        if grammar in {"c", "cpp"}:
            return self._relative_files(from_path, imp.module, ("",), ()) or self._by_basename(imp.module)
        if grammar == "ruby" and imp.level:
            return self._relative_files(from_path, imp.module, (".rb", ""), ())
        if grammar == "go":
            last = imp.module.rsplit("/", 1)[-1]
            in_dir = self._paths(self._memory.by_dir_name, last, "paths_in_dir")
            return [p for p in in_dir if p.endswith(".go")][:50]
        return []

    def _python_module_files(self, from_path: str, module: str, level: int) -> list[str]:
        if level:
            base = os.path.dirname(from_path)
            for _ in range(level - 1):
                base = os.path.dirname(base)
            target = os.path.join(base, *module.split(".")) if module else base
            return [
                candidate
                for candidate in (target + ".py", target + ".pyi", os.path.join(target, "__init__.py"))
                if self._has(candidate)
            ]
        candidates = self._paths(self._memory.modules, module, "module_paths")
        if len(candidates) <= 1:
            return candidates
        return sorted(candidates, key=lambda p: -shared_prefix(p, from_path))

    def _relative_files(
        self, from_path: str, spec: str, extensions: tuple[str, ...], index_names: tuple[str, ...]
    ) -> list[str]:
        if not spec.startswith("."):
            return []
        target = os.path.normpath(os.path.join(os.path.dirname(from_path), spec))
        found = []
        for ext in ("", *extensions):
            if self._has(target + ext):
                found.append(target + ext)
        for index_name in index_names:
            for ext in extensions:
                candidate = os.path.join(target, index_name + ext)
                if self._has(candidate):
                    found.append(candidate)
        return found

    def _by_basename(self, spec: str) -> list[str]:
        # Headers included by a path relative to an include dir we do not know: match the tail.
        if not spec:
            return []
        tail = os.sep + spec.replace("/", os.sep)
        named = self._paths(self._memory.by_file_name, os.path.basename(tail), "paths_named")
        return [p for p in named if p.endswith(tail)][:3]

    def _in_file(self, path: str, name: str) -> list[Definition]:
        """The top-level definitions called ``name`` in one file.

        The whole file's symbols are read (and cached) at its first lookup: resolution asks a
        module for one name after another, and the next requests ask the same modules again.
        """
        symbols = self._symbols(path)
        return list(symbols.top_level.get(name, ())) if symbols is not None else []

    def _bindings(self, path: str) -> dict[str, Binding]:
        head = self._head(path)
        return head[1] if head else {}

    def _follow_binding(self, from_path: str, binding: Binding, depth: int) -> list[Definition]:
        """Definitions a from-import binding points to, following re-exports (``__init__.py``)."""
        if binding.original is None or depth > 4:
            return []
        for module_path in self.module_files(from_path, binding.imp):
            original = binding.original
            if original == "default":
                continue
            found = self._in_file(module_path, original)
            if found:
                return found
            target = self._bindings(module_path)
            if original in target:
                found = self._follow_binding(module_path, target[original], depth + 1)
                if found:
                    return found
        return []

    def resolve(self, from_path: str | None, name: str) -> list[Definition]:
        """What ``name`` means in ``from_path``: its import's target, else its own definition, else by name.

        The by-name fallback only considers workspace-level definitions (not members) and gives up on
        names defined in more than ``MAX_AMBIGUOUS`` files, nearest files first.
        """
        key = os.path.abspath(from_path) if from_path else None
        head = self._head(key) if key else None
        if head is not None and key is not None:
            binding = head[1].get(name)
            if binding is not None:
                if binding.original is None:
                    return []
                found = self._follow_binding(key, binding, 0)
                if found:
                    return found
                if binding.original == "default":
                    for module_path in self.module_files(key, binding.imp):
                        found = self._in_file(module_path, name)
                        if found:
                            return found
            own = self._in_file(key, name)
            if own:
                return own
        return self._by_name_fallback(key, name)

    def _by_name_fallback(self, from_path: str | None, name: str) -> list[Definition]:
        candidates = [d for d in self._memory.by_name.get(name, ()) if d.container is None]
        if self._readers:
            self._sync()
            paths = {d.path for d in candidates}
            for reader in self._readers:
                rows = self._ask(reader, "top_level_named", name, MAX_AMBIGUOUS + 1)
                if rows is None:  # more files define it than MAX_AMBIGUOUS: too ambiguous anyway
                    return []
                rows = self._from_readers(rows)
                candidates.extend(rows)
                paths.update(d.path for d in rows)
                if len(paths) > MAX_AMBIGUOUS:
                    return []
        if not candidates or len({d.path for d in candidates}) > MAX_AMBIGUOUS:
            return []
        if from_path:
            candidates.sort(key=lambda d: -shared_prefix(d.path, from_path))
        return candidates[:2]

    def resolve_member(self, from_path: str | None, owner: str, member: str) -> list[Definition]:
        """What ``owner.member`` means in ``from_path``, where ``owner`` is a class or module name or chain.

        A module alias (``import pkg.mod as m``, ``import * as ns``, Go packages) leads to that module's
        definition of ``member``; a class to its member (searching base classes); ``pkg.mod.Cls`` chains
        are walked one module at a time.
        """
        key = os.path.abspath(from_path) if from_path else None
        head_name, _, rest = owner.partition(".")
        head = self._head(key) if key else None
        binding = head[1].get(head_name) if head else None
        if binding is not None and key is not None and binding.original is None:
            return self._member_of_module(key, binding.imp, rest, member)
        if binding is not None and key is not None and head is not None and head[0] == "python":
            # ``from . import sessions`` then ``sessions.Session``: the imported name is a submodule.
            imp = binding.imp
            submodule = Import(
                f"{imp.module}.{binding.original}" if imp.module else binding.original or "", level=imp.level
            )
            if self.module_files(key, submodule):
                return self._member_of_module(key, submodule, rest, member)
        # ``Outer.Inner.member``: the member belongs to the last class of the chain.
        classes = self._classes(key, owner.rsplit(".", 1)[-1] if rest else head_name)
        for cls in classes:
            found = self.member_of_class(cls, member, 0)
            if found:
                return found
        return []

    def module_bound_to(self, from_path: str | None, name: str) -> list[str]:
        """The indexed files of the module a local ``name`` is bound to, nearest first (else empty).

        ``import pkg.util as util``, ``from pkg import util`` (a submodule), ``import * as util``, Go's
        package names: what ``util.`` is followed by is that module's top-level definitions.
        """
        key = os.path.abspath(from_path) if from_path else None
        head = self._head(key) if key else None
        binding = head[1].get(name) if head else None
        if binding is None or key is None or head is None:
            return []
        if binding.original is None:
            return self.module_files(key, binding.imp)
        if head[0] != "python" or self._follow_binding(key, binding, 0):
            return []  # the name is a definition inside the module, not a submodule
        imp = binding.imp
        module = f"{imp.module}.{binding.original}" if imp.module else binding.original
        return self.module_files(key, Import(module, level=imp.level))

    def top_level(self, path: str) -> list[Definition]:
        """The definitions of one file outside any class, in source order."""
        key = os.path.abspath(path)
        held = self._memory.files.get(key)
        if held is None and self._readers:
            self._sync()
            held = self._cache.get(key)
            if held is None:
                reader = self._reader_for(key)
                return list(self._ask(reader, "top_level", key, None)) if reader is not None else []
        return [d for d in held.definitions if d.container is None] if held else []

    def _member_of_module(self, from_path: str, imp: Import, rest: str, member: str) -> list[Definition]:
        if rest and from_path and syntax.grammar_name(None, from_path) == "python":
            longer = Import(module=f"{imp.module}.{rest}", level=imp.level, line=imp.line)
            files = self.module_files(from_path, longer)
            if files:
                return self._first_in(files, member)
        for module_path in self.module_files(from_path, imp):
            if rest:
                for cls in self._in_file(module_path, rest.rsplit(".", 1)[-1]):
                    found = self.member_of_class(cls, member, 0)
                    if found:
                        return found
            else:
                found = self._in_file(module_path, member)
                if found:
                    return found
                target = self._bindings(module_path)
                if member in target:
                    found = self._follow_binding(module_path, target[member], 1)
                    if found:
                        return found
        return []

    def _first_in(self, files: list[str], name: str) -> list[Definition]:
        for path in files:
            found = self._in_file(path, name)
            if found:
                return found
        return []

    def _classes(self, from_path: str | None, name: str) -> list[Definition]:
        return [d for d in self.resolve(from_path, name) if d.kind in TYPE_KINDS]

    def member_of_class(self, cls: Definition, member: str, depth: int) -> list[Definition]:
        """``member`` of class ``cls``, looked up in its bases (as written in its header) too."""
        found = [m for m in self.members_of(cls) if m.name == member]
        if found or depth >= 3:
            return found
        for base in base_names(cls.signature):
            if base == cls.name:
                continue
            for base_cls in self._classes(cls.path, base):
                found = self.member_of_class(base_cls, member, depth + 1)
                if found:
                    return found
        return []


# Files whose imports (without their definitions) are kept from the databases: a few bytes each.
_MAX_HEADS = 512


_BASES = re.compile(
    r"(?:class\s+\w+\s*\((?P<py>[^)]*)\)|extends\s+(?P<ext>[^{]*?)(?=\s+implements\b|\s*\{|$)"
    r"|[:<]\s*(?P<c>[\w.:]+))"
)
_LEADING_NAME = re.compile(r"\s*([\w.]+)")


def base_names(signature: str) -> list[str]:
    """Base classes named in a class header (Python, JS/TS ``extends``, Ruby/C++/C# ``:``/``<``)."""
    header = signature.split("\n", 1)[0]
    names: list[str] = []
    for match in _BASES.finditer(header):
        if match.group("py") is not None:
            for part in match.group("py").split(","):
                part = part.strip()
                if part and "=" not in part:
                    names.append(part.rsplit(".", 1)[-1].split("[", 1)[0])
        elif match.group("ext"):
            # ``interface A extends B<T>, C<Map<K, V>>``: every name at nesting depth 0.
            depth, start, ext = 0, 0, match.group("ext")
            for k, ch in enumerate(ext + ","):
                depth += {"<": 1, ">": -1}.get(ch, 0)
                if ch == "," and depth == 0:
                    leading = _LEADING_NAME.match(ext, start)
                    if leading:
                        names.append(leading.group(1).rsplit(".", 1)[-1])
                    start = k + 1
        elif match.group("c"):
            names.append(match.group("c").rsplit(".", 1)[-1].rsplit("::", 1)[-1])
    return [n for n in names if n.isidentifier() and n not in {"object", "public", "private", "protected"}]


def _dir_name(path: str) -> str:
    return os.path.basename(os.path.dirname(path))


def _discard(table: dict[str, list[Definition]], name: str, path: str) -> None:
    entries = table.get(name)
    if not entries:
        return
    kept = [d for d in entries if d.path != path]
    if kept:
        table[name] = kept
    else:
        del table[name]
