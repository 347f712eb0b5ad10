"""Big sources parsed off the main thread are fed to tree-sitter in chunks (``syntax._parse_in_chunks``).

The tree must be the one a plain parse gives, nothing may be retained per parse (py-tree-sitter keeps
what a read callback returns), and other threads must get the interpreter while it runs.
"""

from __future__ import annotations

import concurrent.futures
import sys
import sysconfig
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from lsp_server.core import syntax

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CHUNK = syntax._CHUNK_BYTES


def in_worker(function, *args):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def plain_tree(grammar: str, source: bytes):
    return syntax.parser(grammar).parse(source)


def same_tree(grammar: str, source: bytes) -> None:
    def both():
        chunked = syntax.parse(grammar, source)
        return chunked, str(chunked.root_node), plain_tree(grammar, source)

    chunked, shape, plain = in_worker(both)
    assert shape == str(plain.root_node)
    assert chunked.root_node.end_byte == plain.root_node.end_byte == len(source)
    assert chunked.root_node.end_point == plain.root_node.end_point
    assert chunked.root_node.has_error == plain.root_node.has_error
    # The tree reads its text through the parse's callback, which must then give bytes, whole.
    assert chunked.root_node.text == source
    last = chunked.root_node.children[-1]
    assert last.text == source[last.start_byte : last.end_byte]


@pytest.mark.parametrize("name", ["_pydecimal.py", "typing.py", "argparse.py", "inspect.py"])
def test_a_big_file_gives_the_same_tree(name: str) -> None:
    same_tree("python", (STDLIB / name).read_bytes())


@pytest.mark.parametrize(
    ("grammar", "source"),
    [
        ("python", b"x = 1\n" * (syntax.CHUNKED_PARSE_BYTES // 6 + 1)),  # ends with a newline
        ("python", b"x = 1\n" * (syntax.CHUNKED_PARSE_BYTES // 6) + b"y = 2"),  # does not
        ("python", (b"a" * (CHUNK - 1) + b"\n") * 5),  # lines ending right at chunk boundaries
        ("python", b"# " + b"z" * (4 * CHUNK) + b"\n" + b"x = 1\n" * 3),  # one line over many chunks
        ("python", "é = 'ü'  # café\n".encode() * 6000),  # multi-byte characters across chunks
        ("python", b"def f(:\n    pass\n" * 5000),  # syntax errors
        ("javascript", b"function f(a) { return a + 1; }\n" * 3000),
        ("go", b"package p\n" + b"func f() int { return 1 }\n" * 3000),
    ],
    ids=["newline-end", "no-newline-end", "chunk-boundaries", "long-line", "utf8", "errors", "js", "go"],
)
def test_edge_sources_give_the_same_tree(grammar: str, source: bytes) -> None:
    assert len(source) >= syntax.CHUNKED_PARSE_BYTES
    same_tree(grammar, source)


def test_the_parser_serves_whole_sources_again_afterwards() -> None:
    def after_a_chunked_parse():
        syntax.parse("python", b"x = 1\n" * 20_000)
        small = b"def f():\n    return 1\n"
        return str(syntax.parse("python", small).root_node), str(plain_tree("python", small).root_node)

    chunked_parser_tree, fresh = in_worker(after_a_chunked_parse)
    assert chunked_parser_tree == fresh and "function_definition" in fresh


def test_small_sources_and_the_main_thread_parse_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    chunked: list[int] = []
    parse_in_chunks = syntax._parse_in_chunks
    monkeypatch.setattr(
        syntax,
        "_parse_in_chunks",
        lambda p, source: chunked.append(len(source)) or parse_in_chunks(p, source),
    )
    big, small = b"x = 1\n" * 20_000, b"x = 1\n"
    syntax.parse("python", big)  # the main thread: no other thread of ours waits on it
    in_worker(syntax.parse, "python", small)
    assert chunked == []
    in_worker(syntax.parse, "python", big)
    assert chunked == [len(big)]


def test_nothing_is_retained_per_parse() -> None:
    source = (STDLIB / "_pydecimal.py").read_bytes()

    def parse_many() -> int:
        syntax.parse("python", source)  # the thread's buffer and parser exist from here on
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(20):
                syntax.parse("python", source)
            return tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()

    grown = in_worker(parse_many)
    # Returning a fresh slice per call kept each one: 20 x 229 kB = 4.5 MB.
    assert grown < 256 * 1024, grown


def test_other_threads_run_while_a_big_source_is_parsed() -> None:
    source = (STDLIB / "_pydecimal.py").read_bytes() * 4  # about 0.9 MB: 60-80 ms to parse
    ticks: list[float] = []
    stop = threading.Event()

    def ticker() -> None:  # wakes every 0.2 ms and needs the interpreter lock to note it
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.0002)

    def ticks_during(parse) -> int:
        start = time.perf_counter()
        parse()
        end = time.perf_counter()
        return sum(start < tick < end for tick in ticks)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        whole = in_worker(ticks_during, lambda: plain_tree("python", source))
        chunked = in_worker(ticks_during, lambda: syntax.parse("python", source))
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    # A whole-source parse is one C call that keeps the lock: the ticker runs only at its edges.
    assert whole <= 2, whole
    assert chunked >= 10, chunked


CPP_BLOCK = """\
namespace geometry {
struct Point%(k)d { int x; int y; };
class Shape%(k)d {
  public:
    int sides;
    double area() const;
    Shape%(k)d *clone();
};
double Shape%(k)d::area() const { return 0.0; }
static int helper%(k)d(int a) { return a + %(k)d; }
}
"""
TS_BLOCK = """\
export interface Options%(k)d { retries: number; verbose?: boolean }
export class Client%(k)d {
  private cache: Map<string, number>;
  constructor(private readonly endpoint: string) { this.cache = new Map(); }
  fetch%(k)d(path: string): Promise<string> { return fetch(this.endpoint + path).then(r => r.text()); }
}
export const limit%(k)d = %(k)d;
"""


@pytest.mark.parametrize(
    ("grammar", "path", "text"),
    [
        ("python", "/w/_pydecimal.py", (STDLIB / "_pydecimal.py").read_text()),
        ("python", "/w/typing.py", (STDLIB / "typing.py").read_text()),
        ("cpp", "/w/shapes.cpp", "".join(CPP_BLOCK % {"k": k} for k in range(800))),
        ("typescript", "/w/client.ts", "".join(TS_BLOCK % {"k": k} for k in range(800))),
    ],
)
def test_a_big_tree_matched_in_ranges_gives_the_same_definitions(grammar: str, path: str, text: str) -> None:
    """Off the main thread a big tree is matched 32 kB at a time; on it, whole: the same definitions."""
    from lsp_server.engine import symbols

    assert len(text.encode()) > symbols.CHUNKED_MATCH_BYTES
    whole = symbols.extract(path, text, grammar)  # the main thread: one parse, one match per query
    ranged = in_worker(symbols.extract, path, text, grammar)
    assert whole is not None and ranged is not None
    assert len(whole.definitions) > 300
    assert ranged.definitions == whole.definitions
    assert ranged.imports == whole.imports
