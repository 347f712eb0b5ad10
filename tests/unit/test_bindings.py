"""Names a line binds itself count as reachable: loop targets, parameters, ``as`` names, declarations."""

from __future__ import annotations

import pytest

from lsp_server.providers.bindings import bound_names, family_of
from lsp_server.providers.scope import language_flags

CASES = [
    ("a.py", '        rows = [line.strip().split(",") for line in handle]', {"rows", "line"}),
    ("a.py", "    total = sum(x * y for x, y in pairs)", {"total", "x", "y"}),
    ("a.py", "    key=lambda item: item.name, reverse=True)", {"item", "key"}),
    ("a.py", "    with open(path) as handle:", {"handle"}),
    ("a.py", "    except ValueError as exc:", {"exc"}),
    ("a.py", "    a, b = divmod(n, 2)", {"a", "b"}),
    ("a.py", "def load(path, *, strict=False):", {"path", "strict"}),
    ("a.py", '    print("for x in y", value)', set()),  # a string binds nothing
    ("a.py", "    self.total = 0", set()),  # an attribute is not a new name
    ("a.ts", "  const rows = lines.map((line) => line.split(','));", {"rows", "line"}),
    ("a.ts", "  items.forEach(item => console.log(item.name));", {"item"}),
    ("a.ts", "  for (const [key, value] of Object.entries(obj)) {", {"key", "value"}),
    ("a.ts", "  const { name, age } = person;", {"name", "age"}),
    ("a.ts", "function handle({ req, res }: Ctx, next) {", {"req", "res", "next"}),
    ("a.ts", "  const x = y as Foo;", {"x"}),  # a cast names a type, binds nothing
    ("a.ts", "import * as path from 'path';", {"path"}),
    ("a.go", "\tfor i, v := range items {", {"i", "v"}),
    ("a.go", "\tdata, err := os.ReadFile(path)", {"data", "err"}),
    ("a.go", "\thandler := func(w http.ResponseWriter, r *http.Request) {", {"handler", "w", "r"}),
    ("a.go", "func (s *Server) Serve(conn net.Conn) error {", {"s", "conn"}),
    ("a.rs", "    let total: u32 = items.iter().map(|x| x.len()).sum();", {"total", "x"}),
    ("a.rs", "    for (i, line) in text.lines().enumerate() {", {"i", "line"}),
    ("a.rs", "    if let Some(value) = map.get(&key) {", {"Some", "value"}),
    ("a.rs", "        Some(v) => v,", {"v"}),
    ("a.rs", "fn parse(input: &str, mut state: State) -> Result<Tree> {", {"input", "state"}),
    ("a.java", "    for (int i = 0; i < n; i++) {", {"i"}),
    ("a.java", "    for (String name : names) {", {"name"}),
    ("a.java", "    List<Item> items = new ArrayList<>();", {"items"}),
    ("a.java", "    } catch (IOException e) {", {"e"}),
    ("a.java", "    names.forEach(n -> System.out.println(n));", {"n"}),
    ("a.cs", "    foreach (var item in items)", {"item"}),
    ("a.cs", "    var query = items.Where(x => x.Active);", {"query", "x"}),
    ("a.cpp", "    for (auto& entry : table) {", {"entry"}),
    ("a.c", "    int count = 0;", {"count"}),
    ("a.rb", "  items.each do |item, index|", {"item", "index"}),
    ("a.php", "    foreach ($rows as $row) {", {"row"}),
]


@pytest.mark.parametrize("path, line, expected", CASES, ids=[f"{p}:{t.strip()[:40]}" for p, t, _ in CASES])
def test_a_line_binds_its_own_names(path: str, line: str, expected: set[str]):
    assert bound_names(line, family_of(path), *language_flags(path)) == expected


def test_unknown_languages_keep_the_shared_rules():
    assert family_of("notes.txt") == ""
    assert bound_names("for item in items", "", False, True) == {"item"}
