"""The ``llm-lsp`` command: serve LSP, or do the main jobs from a terminal.

Owns argument parsing, logging set-up and the subcommands (``complete``, ``doctor``). Serving
imports the adapter (pygls) only when asked; the subcommands never import pygls. Logs and progress
go to stderr: stdout is the LSP channel when serving, and the result when running a subcommand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lsp_server import __version__

SUBCOMMANDS = ("complete", "doctor", "fix", "refactor")


def _serve_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-lsp",
        description="AI pair programmer as a language server. Without a subcommand: serve LSP on stdio.",
        epilog=(
            "Subcommands: complete FILE:LINE:COL | fix FILE:LINE | refactor FILE:LINE INSTRUCTION | doctor. "
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
    parser.add_argument("--write", action="store_true", help="apply the change to the file")
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
        if command in ("fix", "refactor"):
            options = _rewrite_parser(command).parse_args(rest)
            setup_logging(options.log_level or "warning", options.log_file)
            return asyncio.run(run_rewrite(command, options))
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
    from lsp_server.lsp.server import serve

    serve(tcp, log_level=options.log_level)
    return 0


def _settings():
    from lsp_server.core import settings as config

    user_path = config.user_file_path()
    user_file, problems = config.load_user_file(user_path)
    settings, more = config.resolve(config.Sources(environ=dict(os.environ), user_file=user_file))
    for problem in problems + more:
        progress(f"settings: {problem}")
    return settings


async def run_complete(options: argparse.Namespace) -> int:
    """``llm-lsp complete FILE:LINE:COL``: the same pipeline as the server, printed to stdout.

    The file's project (the nearest folder with a VCS or project marker) is indexed first, within
    the same privacy rules, so cross-file context and the offline engine work as in an editor.
    """
    from lsp_server.app import completion
    from lsp_server.core.documents import DocumentStore
    from lsp_server.core.errors import LlmLspError
    from lsp_server.core.text import Encoding
    from lsp_server.engine.cache import SuggestionCache
    from lsp_server.engine.debounce import AdaptiveDebounce
    from lsp_server.engine.index import WorkspaceIndex
    from lsp_server.privacy import gate as privacy
    from lsp_server.providers.choice import choose_provider
    from lsp_server.providers.offline import OfflineProvider

    path, line, column = parse_location(options.location)
    try:
        content = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        progress(f"cannot read {path}: {exc.strerror or exc}")
        return 2
    settings = _settings()
    path = path.resolve()
    root = project_root(path)
    gate = privacy.PrivacyGate.load([root], list(settings.privacy.exclude))
    reason = gate.exclusion_reason(path)
    if reason is not None:
        progress(f"{path} is excluded by the privacy rules ({reason}): no AI features here")
        return 2
    offline = OfflineProvider()
    index = WorkspaceIndex(is_excluded=gate.is_excluded)
    indexed = index_project(root, path, index, offline.model if settings.uses_offline_engine else None, gate)
    progress(f"indexed {indexed} file(s) under {root}")
    provider = choose_provider(settings, offline)
    progress(f"asking {provider.description}")
    store = DocumentStore(encoding=Encoding.UTF32)
    snapshot = store.open(path.as_uri(), options.language or "", 0, content)
    offset = snapshot.offset_at(line - 1, column - 1)
    sources = completion.PromptSources(settings=settings, index=index, is_excluded=gate.is_excluded)
    pipeline = completion.Pipeline(
        provider=provider,
        settings=settings,
        cache=SuggestionCache(),
        debounce=AdaptiveDebounce(),
        build_prompt=lambda snap, at: completion.gated_prompt(snap, at, str(path), sources),
    )
    started = time.monotonic()
    try:
        result = await completion.suggest(pipeline, snapshot, offset, explicit=True)
    except LlmLspError as exc:
        progress(f"failed: {exc}")
        return 1
    finally:
        await provider.aclose()
    progress(f"{len(result.suggestions)} suggestion(s) in {time.monotonic() - started:.2f} s")
    if result.suggestions:
        sys.stdout.write(result.suggestions[0])
        if not result.suggestions[0].endswith("\n"):
            sys.stdout.write("\n")
        return 0
    return 1


async def run_rewrite(command: str, options: argparse.Namespace) -> int:
    """``llm-lsp fix|refactor FILE:LINE``: the enclosing scope of that line rewritten, as a diff."""
    import difflib

    from lsp_server.app import commands
    from lsp_server.core.documents import DocumentStore
    from lsp_server.core.errors import LlmLspError
    from lsp_server.core.text import Encoding, apply_edits
    from lsp_server.providers.choice import choose_provider
    from lsp_server.providers.offline import OfflineProvider

    path, line, _ = parse_location(options.location, with_column=False)
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        progress(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}")
        return 2
    settings = _settings()
    provider = choose_provider(settings, OfflineProvider())
    store = DocumentStore(encoding=Encoding.UTF32)
    uri = path.resolve().as_uri()
    store.open(uri, options.language or "", 0, content)
    argument = {"uri": uri, "position": {"line": line - 1, "character": 0}}
    if command == "refactor":
        argument["instruction"] = options.instruction
    started = time.monotonic()
    try:
        request = commands.parse(f"llm-lsp.{command}", [argument])
        progress(f"asking {provider.description}")
        result = await commands.run(request, store, provider, settings, report=progress)
    except LlmLspError as exc:
        progress(f"failed: {exc}")
        return 1
    finally:
        await provider.aclose()
    progress(f"answered in {time.monotonic() - started:.2f} s")
    if not result.edits:
        progress(result.message)
        return 0
    new = apply_edits(content, result.edits[0].edits, Encoding.UTF32)
    name = str(path).lstrip("/")
    sys.stdout.writelines(
        difflib.unified_diff(
            content.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{name}", f"b/{name}"
        )
    )
    if options.write:
        path.write_text(new, encoding="utf-8")
        progress(f"wrote {path}")
    return 0


PROJECT_MARKERS = (".git", ".hg", "pyproject.toml", "package.json", "go.mod", "Cargo.toml", ".llm-lspignore")


def project_root(path: Path) -> Path:
    """The nearest folder above ``path`` holding a VCS or project marker (else the file's folder)."""
    for folder in path.parents:
        if any((folder / marker).exists() for marker in PROJECT_MARKERS):
            return folder
    return path.parent


def index_project(root: Path, current: Path, index, offline_model, gate, max_files: int = 2000) -> int:
    """Index up to ``max_files`` project files (and teach them to the offline engine), not ``current``.

    ``current`` is left out on purpose: its live text is part of every request, and a stale copy in
    the offline engine would compete with it.
    """
    from lsp_server.engine.index import iter_workspace_files, read_source

    count = 0
    for file in iter_workspace_files([root], gate.is_excluded, max_files=max_files):
        if file.resolve() == current:
            continue
        source = read_source(file, 1_000_000)
        if source is None:
            continue
        index.add_file(str(file), source)
        if offline_model is not None:
            offline_model.add(str(file), source)
        count += 1
    return count


async def run_doctor() -> int:
    """``llm-lsp doctor``: resolved settings (key masked), then a live check of the model."""
    from lsp_server.core import settings as config
    from lsp_server.core.errors import LlmLspError
    from lsp_server.providers.choice import choose_provider
    from lsp_server.providers.offline import OfflineProvider

    settings = _settings()
    print(f"llm-lsp {__version__}")
    print(f"user settings file: {config.user_file_path()}")
    for key, value in settings.public_view().items():
        print(f"  {config.SECTION}.{key} = {value!r}")
    provider = choose_provider(settings, OfflineProvider())
    print(f"provider: {provider.description}")
    if provider.is_offline:
        print(
            "No model configured: the offline engine completes from your workspace's own code. It is not "
            "an LLM and cannot fix or refactor. Set OPENAI_BASE_URL (and LLM_LSP_MODEL, OPENAI_API_KEY) "
            "to use a model."
        )
        return 0
    progress("checking that the model answers…")
    try:
        outcome = await provider.check()  # type: ignore[attr-defined]
    except LlmLspError as exc:
        print(f"model check FAILED: {exc}")
        return 1
    finally:
        await provider.aclose()
    print(f"model check: {outcome}")
    return 0
