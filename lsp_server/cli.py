"""The ``llm-lsp`` command: serve LSP, or do the main jobs from a terminal.

Owns argument parsing, logging set-up and the subcommands (``complete``, ``fix``, ``refactor``,
``next-edit``, ``doctor``, ``stats``). Serving
imports the adapter (pygls) only when asked; the subcommands never import pygls. Logs and progress
go to stderr: stdout is the LSP channel when serving, and the result when running a subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lsp_server import __version__

SUBCOMMANDS = ("complete", "doctor", "fix", "refactor", "next-edit", "index", "stats")


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp",
        description="AI pair programmer as a language server. Without a subcommand: serve LSP on stdio.",
        epilog=(
            "Subcommands: complete FILE:LINE:COL | fix FILE:LINE | refactor FILE:LINE INSTRUCTION | "
            "next-edit FILE:LINE:COL | doctor | index [--clear] | stats [--json]. "
            "Run `llm-lsp SUBCOMMAND --help`."
        ),
    )
    parser.add_argument("--version", action="version", version=f"llm-lsp {__version__}")
    parser.add_argument(
        "--stdio", action="store_true", help="serve on stdio (the default; accepted for editors)"
    )
    parser.add_argument("--tcp", metavar="HOST:PORT", help="serve on TCP instead of stdio")
    _logging_arguments(parser)
    return parser


def _logging_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-file", metavar="PATH", help="also write the log to this file")
    parser.add_argument(
        "--log-level",
        default=None,
        choices=["error", "warning", "info", "debug"],
        help="log verbosity (default: the logLevel setting, info)",
    )


def _complete_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp complete",
        description="Print the inline completion for a cursor (1-based line and column).",
    )
    parser.add_argument("location", metavar="FILE:LINE:COL")
    parser.add_argument("--language", help="languageId (default: from the file extension)")
    _logging_arguments(parser)
    return parser


def _rewrite_parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"llm-lsp {command}",
        description=(
            "Print the proposed fix of the code around a line (1-based) as a unified diff."
            if command == "fix"
            else "Print the code around a line (1-based) refactored as instructed, as a unified diff."
        ),
    )
    parser.add_argument("location", metavar="FILE:LINE")
    if command == "refactor":
        parser.add_argument("instruction", help='what to do, e.g. "use pathlib" or "make it async"')
    _write_arguments(parser)
    parser.add_argument("--language", help="languageId (default: from the file extension)")
    _logging_arguments(parser)
    return parser


def _write_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--write", action="store_true", help="apply the change to the file")
    parser.add_argument(
        "--yes",
        action="store_true",
        help="with --write, apply a change that adds powers the task did not ask for (process execution, "
        "network access, new URLs, sensitive paths, ...) without asking; without a terminal such a "
        "change is refused unless --yes is given",
    )


def _next_edit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp next-edit",
        description=(
            "Print the edit that follows the file's uncommitted changes (against git's HEAD) near a cursor "
            "(1-based line and column), as a unified diff."
        ),
    )
    parser.add_argument("location", metavar="FILE:LINE:COL")
    _write_arguments(parser)
    parser.add_argument("--language", help="languageId (default: from the file extension)")
    _logging_arguments(parser)
    return parser


def _doctor_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp doctor",
        description="Print the resolved settings (key masked) and check that the model answers.",
    )
    _logging_arguments(parser)
    return parser


def _index_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp index",
        description="Manage the workspace index databases kept under $XDG_CACHE_HOME/llm-lsp/index.",
    )
    parser.add_argument("--clear", action="store_true", help="delete the index databases")
    parser.add_argument(
        "--root", type=Path, help="only the database of this workspace folder (default: every one)"
    )
    return parser


def run_index(options: argparse.Namespace) -> int:
    """``llm-lsp index --clear [--root DIR]``: delete index databases (a server rebuilds them)."""
    from lsp_server.core.layout import index_dir
    from lsp_server.engine.store import database_path, remove_database

    directory = index_dir()
    if not options.clear:
        databases = sorted(directory.glob("*.sqlite3"))
        size = sum(p.stat().st_size for p in directory.glob("*.sqlite3*")) / 2**20
        print(f"{directory}: {len(databases)} database(s), {size:.1f} MiB")
        return 0
    targets = (
        [database_path(directory, options.root)] if options.root else sorted(directory.glob("*.sqlite3"))
    )
    for target in targets:
        remove_database(target)
    progress(f"removed {len(targets)} index database(s) from {directory}")
    return 0


def _stats_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp stats",
        description=(
            "Print your acceptance figures: suggestions shown, accepted, partly accepted and dismissed, per "
            "language and per model, with the median time to show. Counts only, kept in "
            "$XDG_STATE_HOME/llm-lsp/stats.json (~/.local/state by default) and sent nowhere."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    _logging_arguments(parser)
    return parser


def setup_logging(level: str | None, log_file: str | None) -> None:
    """Log to stderr (never stdout) and optionally to a file; quiet third-party chatter."""
    root = logging.getLogger()
    root.handlers.clear()
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(formatter)
    root.addHandler(stderr)
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("lsp_server").setLevel((level or "info").upper())
    # pygls logs every message body at INFO: that would put code and suggestions in the log.
    for noisy in ("pygls", "openai", "httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def parse_location(location: str, with_column: bool = True) -> tuple[Path, int, int]:
    """``FILE:LINE[:COL]`` (1-based) -> (path, line, column); the file name may contain colons."""
    parts = location.rsplit(":", 2 if with_column else 1)
    try:
        if with_column:
            path, line, column = parts[0], int(parts[1]), int(parts[2])
        else:
            path, line, column = parts[0], int(parts[1]), 1
    except (IndexError, ValueError):
        shape = "FILE:LINE:COL" if with_column else "FILE:LINE"
        raise SystemExit(f"llm-lsp: expected {shape}, got {location!r}") from None
    if line < 1 or column < 1:
        raise SystemExit("llm-lsp: line and column are 1-based")
    return Path(path), line, column


def progress(message: str) -> None:
    """A progress line on stderr (the result goes to stdout)."""
    print(f"llm-lsp: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``llm-lsp`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in SUBCOMMANDS:
        command, rest = args[0], args[1:]
        if command == "complete":
            options = _complete_parser().parse_args(rest)
            setup_logging(options.log_level or "warning", options.log_file)
            return asyncio.run(run_complete(options))
        if command == "stats":
            options = _stats_parser().parse_args(rest)
            setup_logging(options.log_level or "warning", options.log_file)
            return run_stats(options)
        if command in ("fix", "refactor"):
            options = _rewrite_parser(command).parse_args(rest)
            setup_logging(options.log_level or "warning", options.log_file)
            return asyncio.run(run_rewrite(command, options))
        if command == "next-edit":
            options = _next_edit_parser().parse_args(rest)
            setup_logging(options.log_level or "warning", options.log_file)
            return asyncio.run(run_next_edit(options))
        if command == "index":
            return run_index(_index_parser().parse_args(rest))
        options = _doctor_parser().parse_args(rest)
        setup_logging(options.log_level or "warning", options.log_file)
        return asyncio.run(run_doctor())
    options = _serve_parser().parse_args(args)
    setup_logging(options.log_level, options.log_file)
    tcp = None
    if options.tcp:
        host, _, port = options.tcp.rpartition(":")
        if not host or not port.isdigit():
            raise SystemExit(f"llm-lsp: --tcp expects HOST:PORT, got {options.tcp!r}")
        tcp = (host, int(port))
    from lsp_server.lsp.transport import serve

    serve(tcp, log_level=options.log_level)
    return 0


class StderrProgress:
    """The Session's progress as lines on stderr."""

    async def begin(self, title: str) -> str:  # noqa: D102
        progress(title.removeprefix("llm-lsp: "))
        return title

    def report(self, token: str, message: str) -> None:  # noqa: D102
        pass

    def end(self, token: str, message: str) -> None:  # noqa: D102
        progress(message)


def open_session(root: Path | None = None):
    """A Session with the user's settings (file and environment), rooted at ``root``.

    The terminal is a door like the editor: the same Session, the same privacy gate, settings and
    engines; only ``initializationOptions`` and ``workspace/configuration`` do not exist here. The
    log level set by ``setup_logging`` (``--log-level``) wins over the ``logLevel`` setting.
    """
    import attrs

    from lsp_server.app.session import Session
    from lsp_server.core import settings as config
    from lsp_server.core.text import Encoding

    session = Session(progress=StderrProgress())
    session.log_level_override = logging.getLevelName(logging.getLogger("lsp_server").level).lower()
    user_file, problems = config.load_user_file(config.user_file_path())
    problems += session.apply_settings(attrs.evolve(session.sources, user_file=user_file))
    for problem in problems:
        progress(f"settings: {problem}")
    session.store.encoding = Encoding.UTF32
    session.roots = [root] if root is not None else []
    return session


async def _refused(session, path: Path) -> bool:
    """Load the privacy gate and say so, naming the rule, when it excludes ``path``."""
    await session.ensure_privacy()
    reason = session.exclusion_reason(str(path))
    if reason is not None:
        progress(f"{path} is excluded by the privacy rules ({reason}): no AI features here")
        return True
    return False


async def run_complete(options: argparse.Namespace) -> int:
    """``llm-lsp complete FILE:LINE:COL``: the editor's pipeline through the same Session, printed.

    The file's project (the nearest folder with a VCS or project marker) is indexed first, within
    the privacy rules and the ``index.*`` settings, so cross-file context and the offline engine work
    as in an editor; while the model is down the offline engine answers (``offlineFallback``).
    """
    from lsp_server.core.errors import LlmLspError

    path, line, column = parse_location(options.location)
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        progress(f"cannot read {path}: {exc.strerror or exc}")
        return 2
    path = path.resolve()
    session = open_session(project_root(path))
    if await _refused(session, path):
        return 2
    uri = path.as_uri()
    snapshot = session.open_document(uri, options.language or "", 0, content)
    await session.load_workspace()
    provider = await serving(session, "completion")
    progress(f"asking {provider.description}")
    offset = snapshot.offset_at(line - 1, column - 1)
    started = time.monotonic()
    try:
        result = await session.complete(uri, offset, explicit=True)
    except LlmLspError as exc:
        progress(f"failed: {exc}")
        return 1
    finally:
        await session.aclose()
    where = " (offline engine: the model failed)" if result.fallback else ""
    progress(f"{len(result.suggestions)} suggestion(s) in {time.monotonic() - started:.2f} s{where}")
    if result.suggestions:
        sys.stdout.write(result.suggestions[0])
        if not result.suggestions[0].endswith("\n"):
            sys.stdout.write("\n")
        return 0
    return 1


async def open_file(path: Path, language: str | None):
    """A Session on ``path``'s project with the file open: (session, resolved path, uri, text).

    None, said on stderr, when the file cannot be read as UTF-8 or the privacy rules exclude it.
    """
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        progress(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        return None
    path = path.resolve()
    session = open_session(project_root(path))
    if await _refused(session, path):
        return None
    uri = path.as_uri()
    session.open_document(uri, language or "", 0, content)
    return session, path, uri, content


async def run_rewrite(command: str, options: argparse.Namespace) -> int:
    """``llm-lsp fix|refactor FILE:LINE``: the enclosing scope of that line rewritten, as a diff."""
    from lsp_server.core.errors import LlmLspError
    from lsp_server.core.text import Encoding, apply_edits

    path, line, _ = parse_location(options.location, with_column=False)
    opened = await open_file(path, options.language)
    if opened is None:
        return 2
    session, path, uri, content = opened
    argument: dict = {"uri": uri, "position": {"line": line - 1, "character": 0}}
    if command == "refactor":
        argument["instruction"] = options.instruction
    started = time.monotonic()
    try:
        provider = await serving(session, "actions")
        if not provider.is_offline:
            progress(f"asking {provider.description}")
        result = await session.run_command(f"llm-lsp.{command}", [argument], report=progress)
    except LlmLspError as exc:
        progress(f"failed: {exc}")
        return 1
    finally:
        await session.aclose()
    progress(f"answered in {time.monotonic() - started:.2f} s")
    if not result.edits:
        progress(result.message)
        return 0
    proposed = result.edits[0]
    new = apply_edits(content, proposed.edits, Encoding.UTF32)
    return show_and_write(session.display_path(str(path)), path, content, new, proposed, options)


def show_and_write(name: str, path: Path, old: str, new: str, proposed, options: argparse.Namespace) -> int:
    """Print ``old`` -> ``new`` as a unified diff; with ``--write`` write it, asking first when flagged."""
    import difflib

    if proposed.needs_confirmation:
        progress(f"WARNING: the model's edit {proposed.warning}. Review the diff before applying it.")
    sys.stdout.writelines(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )
    sys.stdout.flush()
    if options.write:
        if proposed.needs_confirmation and not options.yes and not confirmed(proposed):
            return 3
        path.write_text(new, encoding="utf-8")
        progress(f"wrote {path}")
    return 0


async def run_next_edit(options: argparse.Namespace) -> int:
    """``llm-lsp next-edit FILE:LINE:COL``: the file's uncommitted changes are the recent edits.

    They are read against git's HEAD (what ``git diff HEAD`` shows for the file; none for an untracked
    file or outside a repository) and put in the edit history; the prediction then runs through the
    same Session, privacy gate and checks as in an editor, whatever ``nextEdit.enable`` says.
    """
    from lsp_server.core.errors import LlmLspError
    from lsp_server.core.text import Encoding, apply_edits
    from lsp_server.engine.edit_history import events_between

    path, line, column = parse_location(options.location)
    opened = await open_file(path, options.language)
    if opened is None:
        return 2
    session, path, uri, content = opened
    committed = git_head_text(path)
    events = events_between(uri, committed, content) if committed is not None else []
    session.history.add(events)
    if committed is None:
        progress("no committed version of this file (not in a git repository, or untracked): no recent edits")
    else:
        progress(f"{len(events)} uncommitted change(s) since HEAD as the recent edits")
    started = time.monotonic()
    try:
        progress(f"asking {(await serving(session, 'nextEdit')).description}")
        result = await session.next_edit(
            uri, (line - 1, column - 1), explicit=True, confirmable=True, always=True
        )
    except LlmLspError as exc:
        progress(f"failed: {exc}")
        return 1
    finally:
        await session.aclose()
    progress(f"answered in {time.monotonic() - started:.2f} s")
    if not result.edits:
        progress(f"no next edit: {result.reason}")
        return 1
    proposed = result.edits[0]
    new = apply_edits(content, [proposed.edit], Encoding.UTF32)
    return show_and_write(session.display_path(str(path)), path, content, new, proposed, options)


def git_head_text(path: Path) -> str | None:
    """The file as committed at git's HEAD, or None (untracked, no repository, no git)."""
    import subprocess

    try:
        shown = subprocess.run(
            ["git", "-C", str(path.parent), "show", f"HEAD:./{path.name}"],
            capture_output=True,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if shown.returncode != 0:
        return None
    return shown.stdout.decode("utf-8", "replace")


async def serving(session, role: str):
    """The provider that serves ``role``, once its model is known; says how it was chosen (stderr)."""
    from lsp_server.providers import choice

    provider = await session.provider_ready(role)
    assignment = session.assignment(role)
    if assignment.state == choice.DISCOVERED:
        progress(f"{choice.JOBS[role]}: {assignment.model}, chosen from the server's list: {assignment.note}")
    elif assignment.state == choice.FAILED and role == "completion":  # the offline engine answers instead
        progress(assignment.note)
    return provider


def confirmed(proposed) -> bool:
    """Ask on the terminal whether to write a flagged edit; without a terminal the answer is no."""
    from lsp_server.engine.rewrite import refusal

    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        progress(refusal(proposed, "nothing written (no terminal to ask on); pass --yes to write it anyway"))
        return False
    print(
        f"llm-lsp: write this change, which {proposed.warning}? [y/N] ", end="", file=sys.stderr, flush=True
    )
    answer = sys.stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return True
    progress("nothing written")
    return False


PROJECT_MARKERS = (".git", ".hg", "pyproject.toml", "package.json", "go.mod", "Cargo.toml", ".llm-lspignore")


def project_root(path: Path) -> Path:
    """The nearest folder above ``path`` holding a VCS or project marker (else the file's folder)."""
    for folder in path.parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return path.parent


def run_stats(options: argparse.Namespace) -> int:
    """``llm-lsp stats [--json]``: the figures every llm-lsp process on this machine wrote."""
    import json

    from lsp_server.app.stats import UsageStats, render, stats_file

    stats = UsageStats(stats_file())
    stats.flush()  # reads the file (nothing is pending here); a corrupt one is set aside
    figures = stats.figures()
    if options.json:
        print(json.dumps(figures, indent=2))
    else:
        print(render(figures, str(stats.path)))
    return 0


async def run_doctor() -> int:
    """``llm-lsp doctor``: the settings (keys masked), each job's model and how it was chosen, a live check.

    Exits 1 when a job's server could not give a usable model or a model does not answer; a setup with
    no model at all (the offline engine by choice) is not a failure.
    """
    from lsp_server.core import settings as config
    from lsp_server.core.errors import LlmLspError
    from lsp_server.providers import choice

    session = open_session()
    settings = session.settings
    print(f"llm-lsp {__version__}")
    print(f"user settings file: {config.user_file_path()}")
    for key, value in settings.public_view().items():
        print(f"  {config.SECTION}.{key} = {value!r}")
    try:
        await session.discover()
        for listing in session.providers.catalog.listings():
            if listing.answered:
                names = ", ".join(listing.ids) or "none"
                print(f"models listed by {listing.server} ({len(listing.ids)}): {names}")
        assignments = [session.assignment(role) for role in session.roles()]
        for role in config.ROLES:
            assignment = session.assignment(role)
            if role not in session.roles():
                shown = "off (nextEdit.enable is false)"
            elif assignment.model:
                shown = session.provider_for(role).description
                if assignment.state == choice.DISCOVERED:
                    shown += f"; chosen from the server's list: {assignment.note}"
            else:
                shown = "the offline engine"
            print(f"{role}: {shown}")
        for note in choice.notes(assignments, session.providers.catalog):
            print(note)
        failed = any(a.state == choice.FAILED for a in assignments)
        if settings.uses_offline_engine:
            return 0
        for provider in session.providers.distinct():
            progress(f"checking that {provider.description} answers…")
            try:
                print(f"model check: {await provider.check()}")
            except LlmLspError as exc:
                print(f"model check FAILED: {exc}")
                failed = True
        return 1 if failed else 0
    finally:
        await session.aclose()
