"""Test-only commands, registered only when ``LLM_LSP_TEST_HOOKS=1`` (never for users).

Read back the server's copy of a document, so tests can prove it equals the client's after any edit
sequence; report how much state the server holds, and where its resident memory is (live Python
objects, pymalloc's free room, the C heap: bench/soak.py prints it); and break a feature on purpose,
to test that a failure stays isolated.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsp_server.lsp.server import LlmLanguageServer, server

if TYPE_CHECKING:
    from lsp_server.providers.prompts import FimPrompt

# The engine is imported by the commands that read it, not here: this module loads before
# ``initialize`` when test hooks are on, and benches must see the start-up a user's server has.

DEBUG_TEXT_COMMAND = "llm-lsp.debugDocumentText"
DEBUG_FAULT_COMMAND = "llm-lsp.debugFault"
DEBUG_STATE_COMMAND = "llm-lsp.debugState"
DEBUG_MEMORY_COMMAND = "llm-lsp.debugMemory"


@server.command(DEBUG_TEXT_COMMAND)
def on_debug_document_text(ls: LlmLanguageServer, *args: Any) -> dict[str, Any] | None:
    """``{"version", "text"}`` of an open document, ``None`` if it is not open."""
    uri = str(args[0]) if args else ""
    store = ls.session.store
    if uri not in store:
        return None
    snapshot = store.get(uri)
    return {"version": snapshot.version, "text": snapshot.text}


@server.command(DEBUG_STATE_COMMAND)
def on_debug_state(ls: LlmLanguageServer, *args: Any) -> dict[str, Any]:
    """How much state the server holds, table by table (the soak test checks nothing piles up)."""
    from lsp_server.engine import context

    session = ls.session
    windows, window_bytes = context.window_cache_stats()
    model = getattr(session.offline, "model", None)
    stats = model.stats() if model is not None else None
    return {
        "documents": len(session.store.uris()),
        "handlerFutures": len(ls.protocol._request_futures),
        "inlineTasks": len(ls.inline_tasks),
        "backgroundTasks": session.background_work(),
        "refreshHandles": len(ls.refresh_handles),
        "suggestionCache": session.cache.stats().size,
        "windowCacheEntries": windows,
        "windowCacheBytes": window_bytes,
        "offlineLiveTokens": stats.tokens if stats else 0,
        "offlineDeadTokens": stats.dead_tokens if stats else 0,
    }


@server.command(DEBUG_MEMORY_COMMAND)
def on_debug_memory(ls: LlmLanguageServer, *args: Any) -> dict[str, Any]:
    """Where the resident memory is, in MiB: live Python objects, pymalloc's free room, the C heap.

    Splits "still referenced" from "freed but kept by an allocator" from "code loaded since", which
    RSS alone cannot tell apart (bench/soak.py prints it at each step).
    """
    gc.collect()
    if args and args[0] == "trim":  # the effect of one more trim, on this thread (bench/soak.py)
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).malloc_trim(0)
    mib = 2**20
    status = _proc_status()
    out: dict[str, Any] = {
        "rss": status.get("VmRSS", 0) / 1024,
        "rssAnon": status.get("RssAnon", 0) / 1024,
        "rssFile": status.get("RssFile", 0) / 1024,
        "modules": len(sys.modules),
        "gcObjects": len(gc.get_objects()),
        "pyBlocks": sys.getallocatedblocks(),
    }
    out.update(_pymalloc_stats())
    info = _mallinfo2()
    if info is not None:
        arena, hblkhd, uordblks, fordblks = info
        out.update(
            mallocHeap=arena / mib,
            mallocMmapped=hblkhd / mib,
            mallocInUse=uordblks / mib,
            mallocFree=fordblks / mib,
        )
    return out


def _proc_status() -> dict[str, int]:
    """``/proc/self/status`` sizes in KiB (empty where there is no /proc)."""
    sizes: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if value.strip().endswith("kB"):
                sizes[name] = int(value.split()[0])
    return sizes


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> tuple[int, int, int, int] | None:
    """glibc's (heap bytes, mmapped bytes, in use, free in the heap); None without glibc >= 2.33."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.arena, info.hblkhd, info.uordblks, info.fordblks


def _pymalloc_stats() -> dict[str, float]:
    """pymalloc's arenas and the bytes in used and free blocks (parsed from ``sys._debugmallocstats``).

    It prints to the C stderr, which is the server's log stream: fd 2 is pointed at a file meanwhile.
    """
    stats: dict[str, float] = {}
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        text = sink.read().decode("ascii", "replace")
    wanted = {
        "# arenas allocated current": "pyArenas",
        "# bytes in allocated blocks": "pyUsed",
        "# bytes in available blocks": "pyFreeBlocks",
        "# arenas highwater mark": "pyArenasPeak",
        "# bytes lost to pool headers": "pyPoolHeaders",
        "# bytes lost to quantization": "pyQuantization",
        "Total": "pyTotal",
    }
    for line in text.splitlines():
        name, _, value = line.partition("=")
        name = name.strip()
        if name.endswith("unused pools * 16384 bytes"):
            name = "unused pools"
        key = {**wanted, "unused pools": "pyFreePools"}.get(name)
        match = re.search(r"[\d,]+", value)
        if key and match and key not in stats:  # the first "Total" is the arenas' (later ones are not)
            number = int(match.group().replace(",", ""))
            stats[key] = number if key.startswith("pyArenas") else number / 2**20
    return stats


@server.command(DEBUG_FAULT_COMMAND)
def on_debug_fault(ls: LlmLanguageServer, *args: Any) -> str:
    """Break prompt building (``"context"``), fail this command (``"raise"``), undo (``"none"``)."""
    if args and args[0] == "raise":
        raise RuntimeError("injected handler failure")
    session = ls.session
    if args and args[0] == "context":

        def broken(snapshot: Any, offset: int, *, leaves: bool = True) -> FimPrompt:
            raise RuntimeError("injected context failure")

        session.build_prompt = broken  # type: ignore[method-assign]
    else:
        session.__dict__.pop("build_prompt", None)
    return "ok"
