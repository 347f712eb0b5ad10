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
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lsp_server.core import syntax
from lsp_server.core.layout import VENDORED_DIRS
from lsp_server.engine.symbols import TYPE_KINDS, Binding, Definition, FileSymbols, Import, extract

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

_GENERATED_SUFFIXES = (".min.js", ".min.mjs", ".bundle.js", ".map", ".d.ts.map", "_pb2.py", ".pb.go")

MAX_AMBIGUOUS = 4
_BINARY_SNIFF_BYTES = 1024


def _never(_path: str) -> bool:
    return False


def iter_workspace_files(
    roots: Iterable[str | os.PathLike[str]],
    is_excluded: Callable[[str], bool] = _never,
    max_file_bytes: int = 1_000_000,
    max_files: int = 20_000,
) -> Iterator[Path]:
    """Source files under ``roots`` that have a grammar, lazily, at most ``max_files`` of them.

    Skips dot-directories (``.git``, ``.venv``, ``.tox``...), ``VENDORED_DIRS``, any directory holding a
    ``pyvenv.cfg`` (a virtualenv under any name), minified/generated files, files over
    ``max_file_bytes``, and anything ``is_excluded`` rejects (asked for directories too, so an excluded
    tree is never entered). Directory symlinks are never followed, which rules out symlink loops; file
    symlinks are followed once per real path. Unreadable directories are skipped silently.
    """
    seen_real: set[str] = set()
    count = 0
    for root in roots:
        root_abs = os.path.abspath(os.fspath(root))
        root_real = os.path.realpath(root_abs)
        stack = [root_abs]
        while stack:
            directory = stack.pop()
            try:
                with os.scandir(directory) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            if any(e.name == "pyvenv.cfg" for e in entries):
                continue
            subdirs = []
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if name.startswith(".") or name in VENDORED_DIRS or is_excluded(entry.path):
                            continue
                        subdirs.append(entry.path)
                        continue
                    if not _wanted_file(name) or is_excluded(entry.path):
                        continue
                    st = entry.stat(follow_symlinks=True)
                except OSError:  # dangling symlink, permission denied, vanished meanwhile
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size > max_file_bytes:
                    continue
                # Directory symlinks are never entered below the root, so a regular file's real path is
                # its path with the root's real path swapped in; only file symlinks need resolving.
                if entry.is_symlink():
                    real = os.path.realpath(entry.path)
                else:
                    real = root_real + entry.path[len(root_abs) :]
                if real in seen_real:
                    continue
                seen_real.add(real)
                yield Path(entry.path)
                count += 1
                if count >= max_files:
                    return
            # Reversed so the depth-first walk visits subdirectories in name order.
            stack.extend(reversed(subdirs))


def _wanted_file(name: str) -> bool:
    lowered = name.lower()
    if lowered.endswith(_GENERATED_SUFFIXES):
        return False
    return syntax.grammar_name(None, lowered) is not None


def read_source(path: str | os.PathLike[str], max_file_bytes: int = 1_000_000) -> str | None:
    """A file's text, or ``None`` when it is unreadable, too big or binary (a NUL in its first KB).

    Non-UTF-8 files are decoded with ``errors="replace"``: their identifiers are still mostly ASCII, so
    their definitions stay useful, and the replacement characters cannot break anything downstream.
    """
    try:
        with open(path, "rb") as f:
            data = f.read(max_file_bytes + 1)
    except OSError:
        return None
    if len(data) > max_file_bytes or b"\0" in data[:_BINARY_SNIFF_BYTES]:
        return None
    return data.decode("utf-8", errors="replace")


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


def _shared_prefix(a: str, b: str) -> int:
    """How many leading path components two paths share (proximity for ranking candidates)."""
    n = 0
    for x, y in zip(a.split(os.sep), b.split(os.sep), strict=False):
        if x != y:
            break
        n += 1
    return n


# --------------------------------------------------------------------------------------------------
# The index


class WorkspaceIndex:
    """Definitions and imports of the workspace's files, with resolution of names across files.

    State is a handful of dictionaries keyed by path and by name, so every lookup is O(answers), never
    O(workspace). ``add_file`` replaces a file's entries; ``remove_file`` drops them. Files that
    ``is_excluded`` rejects are never stored, whichever way they arrive.
    """

    def __init__(
        self,
        is_excluded: Callable[[str], bool] = _never,
        max_files: int = 20_000,
        max_file_bytes: int = 1_000_000,
    ) -> None:
        """Create an empty index; ``is_excluded`` is the privacy gate's verdict on a path."""
        self.is_excluded = is_excluded
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self._files: dict[str, FileSymbols] = {}
        self._stamps: dict[str, tuple[int, int]] = {}
        self._by_name: dict[str, list[Definition]] = {}
        self._members: dict[str, list[Definition]] = {}
        self._modules: dict[str, list[str]] = {}
        # file name -> paths, and directory name -> paths: C includes and Go packages resolve by these.
        self._by_file_name: dict[str, list[str]] = {}
        self._by_dir_name: dict[str, list[str]] = {}

    # ---- mutation

    def add_file(self, path: str | os.PathLike[str], text: str, language_id: str | None = None) -> bool:
        """Index (or re-index) one file from its text; False when excluded, unparseable or over the cap."""
        key = os.path.abspath(os.fspath(path))
        if self.is_excluded(key):
            self.remove_file(key)
            return False
        if key not in self._files and len(self._files) >= self.max_files:
            return False
        if len(text) > self.max_file_bytes:
            # Open documents arrive here too (re-indexed when typing pauses): the size cap of the
            # workspace walk holds for them, or a huge file would block the server while it parses.
            self.remove_file(key)
            return False
        grammar = syntax.grammar_name(language_id, key)
        try:
            symbols = extract(key, text, grammar)
        except Exception as exc:  # a grammar bug on one file must not stop a workspace build
            log.warning("indexing %s failed: %s", key, exc)
            symbols = None
        self.remove_file(key)
        if symbols is None:
            return False
        self._files[key] = symbols
        for definition in symbols.definitions:
            self._by_name.setdefault(definition.name, []).append(definition)
            if definition.container:
                self._members.setdefault(definition.container, []).append(definition)
        for module in python_module_names(key) if symbols.grammar == "python" else ():
            self._modules.setdefault(module, []).append(key)
        self._by_file_name.setdefault(os.path.basename(key), []).append(key)
        self._by_dir_name.setdefault(_dir_name(key), []).append(key)
        return True

    def remove_file(self, path: str | os.PathLike[str]) -> None:
        """Forget one file (deleted, renamed, or newly excluded)."""
        key = os.path.abspath(os.fspath(path))
        symbols = self._files.pop(key, None)
        self._stamps.pop(key, None)
        if symbols is None:
            return
        for definition in symbols.definitions:
            _discard(self._by_name, definition.name, key)
            if definition.container:
                _discard(self._members, definition.container, key)
        for table, names in (
            (self._modules, python_module_names(key)),
            (self._by_file_name, [os.path.basename(key)]),
            (self._by_dir_name, [_dir_name(key)]),
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

    def build(
        self, roots: Iterable[str | os.PathLike[str]], skip: Callable[[str], bool] = _never
    ) -> Iterator[tuple[str, str | None]]:
        """Index every workspace file under ``roots`` (the one workspace walk), file by file.

        Yields ``(path, text)`` after each file: ``text`` is what was newly indexed, ``None`` when the
        file was unchanged since the last build (same mtime and size), unreadable, or ``skip``ped (open
        documents, indexed from the editor's text). The caller drives the generator — a coroutine
        that yields to the event loop between steps and reports progress — and feeds the texts to the
        offline engine; closing the generator stops the build.
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
                if text is not None and self.add_file(key, text):
                    self._stamps[key] = stamp
                else:
                    text = None
            yield key, text

    # ---- queries

    def __len__(self) -> int:
        """Number of indexed files."""
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        """Whether a file is indexed."""
        return isinstance(path, str) and os.path.abspath(path) in self._files

    def paths(self) -> list[str]:
        """Every indexed path (a copy)."""
        return list(self._files)

    def file_symbols(self, path: str) -> FileSymbols | None:
        """What the index holds for one file, or None."""
        return self._files.get(os.path.abspath(path))

    def imports(self, path: str) -> tuple[Import, ...]:
        """The imports of one indexed file (empty when not indexed)."""
        symbols = self.file_symbols(path)
        return symbols.imports if symbols else ()

    def definitions(self, name: str) -> list[Definition]:
        """Every definition of ``name`` in the workspace (a copy)."""
        return list(self._by_name.get(name, ()))

    def members(self, class_name: str, path: str | None = None) -> list[Definition]:
        """Members of every class called ``class_name`` (only the one in ``path`` when given)."""
        members = self._members.get(class_name, ())
        if path is None:
            return list(members)
        return [m for m in members if m.path == path]

    def members_of(self, cls: Definition) -> list[Definition]:
        """Members of one class definition: those in its file, else any of that name (Go, Rust, C++)."""
        own = self.members(cls.name, cls.path)
        if own:
            return own
        return [
            m
            for m in self._members.get(cls.name, ())
            if m.path.rsplit(os.sep, 1)[0] == cls.path.rsplit(os.sep, 1)[0]
        ]

    # ---- resolution

    def module_files(self, from_path: str, imp: Import) -> list[str]:
        """The indexed files an import refers to, nearest first (empty for external modules)."""
        from_path = os.path.abspath(from_path)
        symbols = self._files.get(from_path)
        grammar = symbols.grammar if symbols else syntax.grammar_name(None, from_path)
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
            return [p for p in self._by_dir_name.get(last, ()) if p.endswith(".go")][:50]
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
                if candidate in self._files
            ]
        candidates = self._modules.get(module, [])
        if len(candidates) <= 1:
            return list(candidates)
        return sorted(candidates, key=lambda p: -_shared_prefix(p, from_path))

    def _relative_files(
        self, from_path: str, spec: str, extensions: tuple[str, ...], index_names: tuple[str, ...]
    ) -> list[str]:
        if not spec.startswith("."):
            return []
        target = os.path.normpath(os.path.join(os.path.dirname(from_path), spec))
        found = []
        for ext in ("", *extensions):
            if target + ext in self._files:
                found.append(target + ext)
        for index_name in index_names:
            for ext in extensions:
                candidate = os.path.join(target, index_name + ext)
                if candidate in self._files:
                    found.append(candidate)
        return found

    def _by_basename(self, spec: str) -> list[str]:
        # Headers included by a path relative to an include dir we do not know: match the tail.
        if not spec:
            return []
        tail = os.sep + spec.replace("/", os.sep)
        return [p for p in self._by_file_name.get(os.path.basename(tail), ()) if p.endswith(tail)][:3]

    def _in_file(self, path: str, name: str) -> list[Definition]:
        symbols = self._files.get(path)
        if symbols is None:
            return []
        return list(symbols.top_level.get(name, ()))

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
            target = self._files.get(module_path)
            if target is not None and original in target.bindings:
                found = self._follow_binding(module_path, target.bindings[original], depth + 1)
                if found:
                    return found
        return []

    def resolve(self, from_path: str | None, name: str) -> list[Definition]:
        """What ``name`` means in ``from_path``: its import's target, else its own definition, else by name.

        The by-name fallback only considers workspace-level definitions (not members) and gives up on
        names defined in more than ``MAX_AMBIGUOUS`` files, nearest files first.
        """
        key = os.path.abspath(from_path) if from_path else None
        symbols = self._files.get(key) if key else None
        if symbols is not None and key is not None:
            binding = symbols.bindings.get(name)
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
        candidates = [d for d in self._by_name.get(name, ()) if d.container is None]
        if not candidates or len({d.path for d in candidates}) > MAX_AMBIGUOUS:
            return []
        if from_path:
            candidates.sort(key=lambda d: -_shared_prefix(d.path, from_path))
        return candidates[:2]

    def resolve_member(self, from_path: str | None, owner: str, member: str) -> list[Definition]:
        """What ``owner.member`` means in ``from_path``, where ``owner`` is a class or module name or chain.

        A module alias (``import pkg.mod as m``, ``import * as ns``, Go packages) leads to that module's
        definition of ``member``; a class to its member (searching base classes); ``pkg.mod.Cls`` chains
        are walked one module at a time.
        """
        key = os.path.abspath(from_path) if from_path else None
        head, _, rest = owner.partition(".")
        symbols = self._files.get(key) if key else None
        binding = symbols.bindings.get(head) if symbols else None
        if key is None:
            binding = None
        if binding is not None and key is not None and binding.original is None:
            return self._member_of_module(key, binding.imp, rest, member)
        if binding is not None and key is not None and symbols is not None and symbols.grammar == "python":
            # ``from . import sessions`` then ``sessions.Session``: the imported name is a submodule.
            imp = binding.imp
            submodule = Import(
                f"{imp.module}.{binding.original}" if imp.module else binding.original or "", level=imp.level
            )
            if self.module_files(key, submodule):
                return self._member_of_module(key, submodule, rest, member)
        # ``Outer.Inner.member``: the member belongs to the last class of the chain.
        classes = self._classes(key, owner.rsplit(".", 1)[-1] if rest else head)
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
        symbols = self._files.get(key) if key else None
        binding = symbols.bindings.get(name) if symbols else None
        if binding is None or key is None or symbols is None:
            return []
        if binding.original is None:
            return self.module_files(key, binding.imp)
        if symbols.grammar != "python" or self._follow_binding(key, binding, 0):
            return []  # the name is a definition inside the module, not a submodule
        imp = binding.imp
        module = f"{imp.module}.{binding.original}" if imp.module else binding.original
        return self.module_files(key, Import(module, level=imp.level))

    def top_level(self, path: str) -> list[Definition]:
        """The definitions of one file outside any class, in source order."""
        symbols = self._files.get(os.path.abspath(path))
        return [d for d in symbols.definitions if d.container is None] if symbols else []

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
                target = self._files.get(module_path)
                if target is not None and member in target.bindings:
                    found = self._follow_binding(module_path, target.bindings[member], 1)
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
