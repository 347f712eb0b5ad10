"""The capability rules, as data: one table per language, and the rules on string literals.

Owns what counts as process execution, network access, a URL, an IP address, a sensitive path, an
encoded blob or an ordinary import in each language llm-lsp has a grammar for, and which words in a
user's request plainly ask for each capability. Every rule has an id and a test in
tests/unit/test_capabilities.py. The check that applies these rules lives in ``capabilities``; this
module holds no logic beyond compiling patterns, and must not import anything above the core.
"""

from __future__ import annotations

import re
import sys
from functools import cache

import attrs

PROCESS = "process execution"
NETWORK = "network access"
URL = "a URL"
IP = "an IP address"
SENSITIVE = "a sensitive path"
BLOB = "an encoded blob"
IMPORT = "a new import"
# The order capabilities are named in a warning.
ORDER = (PROCESS, NETWORK, URL, IP, SENSITIVE, BLOB, IMPORT)


@attrs.frozen
class Rule:
    """One rule: ``pattern`` (full match) on a call's callee, an import's module or a string literal.

    ``on`` is ``"call"``, ``"import"``, ``"node"`` (any node of that type, e.g. Ruby backticks) or
    ``"string"`` (searched in the literal's text; ``group`` picks the evidence out of the match).
    """

    id: str
    capability: str
    on: str
    pattern: str
    group: int = 0

    @property
    def regex(self) -> re.Pattern[str]:
        """The compiled pattern (cached per rule)."""
        return _compile(self.pattern, self.on == "string")


@cache
def _compile(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


@attrs.frozen
class Table:
    """The rules of one language and how to find calls, strings and imports in its syntax tree.

    ``calls``/``strings``/``documentation``: node types. ``imports``: a tree-sitter query capturing
    ``@module`` (a module name) and ``@local`` (an import of the project's own code, never flagged);
    ``@_fn`` restricts a match to calls of ``import_functions`` (``require``). ``ordinary``: modules
    that gain no power when imported (standard libraries, minus the capability modules); ``tests``:
    modules a generated test file may import without a reason (test frameworks).
    """

    calls: tuple[str, ...]
    strings: tuple[str, ...]
    rules: tuple[Rule, ...]
    imports: str = ""
    import_functions: tuple[str, ...] = ()
    documentation: str = ""
    nodes: tuple[str, ...] = ()
    ordinary: str = r"(?!)"
    tests: str = r"(?!)"


def _alt(*names: str) -> str:
    return "(?:" + "|".join(names) + ")"


# Python's standard library minus the modules that gain powers (they have their own rules or are new
# imports worth a look). The interpreter's own list keeps this table true across Python versions.
_PY_POWERFUL = frozenset(
    re.findall(
        r"\w+",
        "subprocess pty socket ssl socketserver urllib http ftplib smtplib telnetlib poplib imaplib nntplib "
        "xmlrpc ctypes marshal importlib webbrowser code codeop runpy multiprocessing asyncio",
    )
)
_PY_ORDINARY = "|".join(sorted(re.escape(m) for m in sys.stdlib_module_names if m not in _PY_POWERFUL))

_PYTHON = Table(
    calls=("call",),
    strings=("string", "concatenated_string"),
    documentation="(expression_statement . (string) @doc .)",
    imports="""
        (import_statement name: (dotted_name) @module)
        (import_statement name: (aliased_import name: (dotted_name) @module))
        (import_from_statement module_name: (dotted_name) @module)
        (import_from_statement module_name: (relative_import) @local)
    """,
    rules=(
        Rule("python.call.subprocess", PROCESS, "call", r"subprocess(\.\w+)+"),
        Rule(
            "python.call.os",
            PROCESS,
            "call",
            r"os\.(system|popen\w*|exec\w*|spawn\w*|posix_spawnp?|fork\w*|startfile)",
        ),
        Rule(
            "python.call.builtin",
            PROCESS,
            "call",
            r"(builtins\.)?(eval|exec|execfile|__import__|system|popen)",
        ),
        Rule("python.call.asyncio", PROCESS, "call", r"asyncio\.create_subprocess_(exec|shell)|pty\.spawn"),
        Rule("python.call.loads", PROCESS, "call", r"(pickle|marshal|dill)\.loads"),
        Rule(
            "python.call.network",
            NETWORK,
            "call",
            _alt(
                r"(requests|httpx|urllib3|aiohttp|socket|urllib\.request|urllib2|http\.client|ftplib|smtplib"
                r"|telnetlib|paramiko|pycurl|websockets?)(\.\w+)+",
                r"(urlopen|urlretrieve|create_connection|open_connection|socket)",
            ),
        ),
        Rule(
            "python.import.process", PROCESS, "import", r"(subprocess|pty|pexpect|sh|plumbum|commands)(\..+)?"
        ),
        Rule(
            "python.import.network",
            NETWORK,
            "import",
            r"(socket|socketserver|requests|httpx|urllib\.request|urllib2|urllib3|http\.client|http\.server"
            r"|aiohttp|ftplib|smtplib|telnetlib|poplib|imaplib|xmlrpc|paramiko|pycurl|websockets?|grpc)(\..+)?",
        ),
    ),
    ordinary=rf"({_PY_ORDINARY})(\..+)?|urllib\.parse|http\.HTTPStatus|asyncio(\..+)?|typing_extensions",
    tests=r"(pytest|unittest|mock|hypothesis|_pytest|pytest_\w+)(\..+)?",
)

_JS_IMPORTS = """
    (import_statement source: (string) @module)
    (export_statement source: (string) @module)
    (call_expression function: (identifier) @_fn arguments: (arguments . (string) @module))
    (call_expression function: (import) arguments: (arguments . (string) @module))
"""
_JS_PROCESS_MODULES = r"(node:)?(child_process|vm|cluster|worker_threads)|execa|shelljs|cross-spawn|zx"
_JS_NETWORK_MODULES = (
    r"(node:)?(http|https|http2|net|tls|dgram|dns)|axios|node-fetch|got|request|superagent|ws|undici"
    r"|socket\.io-client|isomorphic-fetch|cross-fetch"
)
_JAVASCRIPT = Table(
    calls=("call_expression", "new_expression"),
    strings=("string", "template_string"),
    imports=_JS_IMPORTS,
    import_functions=("require",),
    rules=(
        Rule(
            "javascript.call.child_process",
            PROCESS,
            "call",
            r"((\w+\.)*(child_process|childProcess|cp)\.)?(exec|execSync|execFile|execFileSync|spawn|spawnSync"
            r"|fork)",
        ),
        Rule(
            "javascript.call.eval", PROCESS, "call", r"(window\.|globalThis\.)?eval|new (Function|vm\.Script)"
        ),
        Rule(
            "javascript.call.runtime",
            PROCESS,
            "call",
            r"(Deno\.(run|Command)|new Deno\.Command|Bun\.spawn\w*)",
        ),
        Rule(
            "javascript.call.network",
            NETWORK,
            "call",
            _alt(
                r"((window|globalThis|self)\.)?fetch",
                r"axios(\.\w+)?",
                r"new (XMLHttpRequest|WebSocket|EventSource)",
                r"navigator\.sendBeacon",
                r"(http|https|http2|net|tls|dgram)\.(request|get|connect|createConnection|createSocket)",
            ),
        ),
        Rule("javascript.import.process", PROCESS, "import", _JS_PROCESS_MODULES),
        Rule("javascript.import.network", NETWORK, "import", _JS_NETWORK_MODULES),
    ),
    ordinary=(
        r"(node:)?(path|util|assert|assert/strict|events|url|querystring|string_decoder|buffer|crypto|zlib"
        r"|stream|os|fs|fs/promises|timers|readline|perf_hooks|test)"
    ),
    tests=r"vitest|jest|@jest/\S+|mocha|chai|sinon|node:test|@testing-library/\S+|supertest|ava|tap",
)

_GO = Table(
    calls=("call_expression",),
    strings=("interpreted_string_literal", "raw_string_literal"),
    imports="(import_spec path: (_) @module)",
    rules=(
        Rule(
            "go.call.exec", PROCESS, "call", r"exec\.Command(Context)?|syscall\.(Exec|ForkExec|StartProcess)"
        ),
        Rule("go.call.os", PROCESS, "call", r"os\.StartProcess"),
        Rule(
            "go.call.network",
            NETWORK,
            "call",
            r"http\.(Get|Post|PostForm|Head|NewRequest\w*|DefaultClient\.\w+)|net\.(Dial\w*|Listen\w*)",
        ),
        Rule("go.import.process", PROCESS, "import", r"os/exec|syscall"),
        Rule("go.import.network", NETWORK, "import", r"net(/.+)?|golang\.org/x/net(/.+)?"),
    ),
    # The standard library: import paths whose first element has no dot (minus unsafe and plugin).
    ordinary=r"(?!unsafe$|plugin$)[^./]+(/[^.]+)*",
    tests=r"testing(/.+)?|github\.com/stretchr/testify(/.+)?|github\.com/google/go-cmp(/.+)?",
)

_RUST = Table(
    calls=("call_expression", "macro_invocation"),
    strings=("string_literal", "raw_string_literal"),
    imports="""
        (use_declaration argument: (_) @module)
        (extern_crate_declaration name: (identifier) @module)
    """,
    rules=(
        Rule("rust.call.command", PROCESS, "call", r"((std::)?process::)?Command::new"),
        Rule(
            "rust.call.network",
            NETWORK,
            "call",
            r"((std::)?net::)?(TcpStream|UdpSocket|TcpListener)::\w+|(reqwest|ureq|hyper|surf|isahc)::\S+",
        ),
        Rule(
            "rust.import.process",
            PROCESS,
            "import",
            r"(std|tokio|async_std)::(process|os::unix::process)(::.+)?",
        ),
        Rule(
            "rust.import.network",
            NETWORK,
            "import",
            r"(std|tokio|async_std)::net(::.+)?|(reqwest|ureq|hyper|surf|isahc|curl)(::.+)?",
        ),
    ),
    ordinary=r"(std|core|alloc|crate|self|super)(::.+)?",
)

_JAVA = Table(
    calls=("method_invocation", "object_creation_expression"),
    strings=("string_literal",),
    imports="""
        (import_declaration (scoped_identifier) @module)
        (import_declaration (identifier) @module)
        (package_declaration (_) @local)
    """,
    rules=(
        Rule(
            "java.call.exec",
            PROCESS,
            "call",
            r"Runtime\.getRuntime\(\)\.exec|new (java\.lang\.)?ProcessBuilder",
        ),
        Rule(
            "java.call.network",
            NETWORK,
            "call",
            _alt(
                r"new (java\.net\.)?(URL|Socket|ServerSocket|DatagramSocket)",
                r"HttpClient\.new\w*",
                r"HttpRequest\.newBuilder",
                r"\S+\.(openConnection|openStream)",
                r"new (OkHttpClient|HttpGet|HttpPost|HttpPut|HttpDelete)",
            ),
        ),
        Rule(
            "java.import.network",
            NETWORK,
            "import",
            r"(java\.net|javax\.net|org\.apache\.http|okhttp3)(\..+)?",
        ),
    ),
    ordinary=r"(java|javax|jdk)\..+",
    tests=r"(org\.junit|org\.mockito|org\.assertj|org\.hamcrest|junit)(\..+)?",
)

_C_PROCESS_CALLS = (
    r"(std::)?(system|popen|_popen|execl|execlp|execle|execv|execvp|execvpe|execve|fork|vfork|posix_spawnp?"
    r"|CreateProcess\w*|ShellExecute\w*|WinExec)"
)
_C_NETWORK_CALLS = (
    r"(socket|getaddrinfo|gethostbyname|curl_easy_\w+|curl_global_init|WSAStartup|InternetOpen\w*"
    r"|URLDownloadToFile\w*)"
)
_C_NETWORK_HEADERS = (
    r"sys/socket\.h|netinet/.+|arpa/inet\.h|netdb\.h|winsock2?\.h|ws2tcpip\.h|curl/.+|wininet\.h"
)


def _c_table(name: str) -> Table:
    return Table(
        calls=("call_expression",),
        strings=("string_literal", "raw_string_literal", "concatenated_string"),
        imports="""
            (preproc_include path: (system_lib_string) @module)
            (preproc_include path: (string_literal) @local)
        """,
        rules=(
            Rule(f"{name}.call.process", PROCESS, "call", _C_PROCESS_CALLS),
            Rule(f"{name}.call.network", NETWORK, "call", _C_NETWORK_CALLS),
            Rule(f"{name}.import.process", PROCESS, "import", r"spawn\.h"),
            Rule(f"{name}.import.network", NETWORK, "import", _C_NETWORK_HEADERS),
        ),
        # No reliable list of "standard" headers: only the capability headers above are flagged.
        ordinary=r".+",
    )


_C_SHARP = Table(
    calls=("invocation_expression", "object_creation_expression"),
    strings=(
        "string_literal",
        "verbatim_string_literal",
        "raw_string_literal",
        "interpolated_string_expression",
    ),
    imports="""
        (using_directive (qualified_name) @module)
        (using_directive (identifier) @module)
        (namespace_declaration name: (_) @local)
        (file_scoped_namespace_declaration name: (_) @local)
    """,
    rules=(
        Rule(
            "c_sharp.call.process",
            PROCESS,
            "call",
            r"((System\.)?Diagnostics\.)?Process\.Start"
            r"|new ((System\.)?Diagnostics\.)?(Process|ProcessStartInfo)",
        ),
        Rule(
            "c_sharp.call.network",
            NETWORK,
            "call",
            r"new (HttpClient|WebClient|TcpClient|UdpClient|Socket|ClientWebSocket)"
            r"|(WebRequest|HttpWebRequest)\.Create\w*|Dns\.\w+",
        ),
        Rule("c_sharp.import.network", NETWORK, "import", r"System\.Net(\..+)?"),
    ),
    ordinary=r"(System|Microsoft)(\..+)?",
    tests=r"(Xunit|NUnit|Moq|FluentAssertions|Microsoft\.VisualStudio\.TestTools)(\..+)?",
)

_RUBY_STDLIB = re.findall(
    r"\w+",
    "json set time date digest securerandom stringio yaml psych csv erb logger fileutils pathname tempfile "
    "optparse ostruct forwardable singleton benchmark bigdecimal pp English tsort zlib base64 matrix prime "
    "observer delegate monitor timeout strscan",
)
_RUBY = Table(
    calls=("call",),
    strings=("string", "heredoc_body"),
    nodes=("subshell",),
    imports="""
        (call method: (identifier) @_fn arguments: (argument_list . (string) @module))
    """,
    import_functions=("require", "load"),
    rules=(
        Rule(
            "ruby.call.process",
            PROCESS,
            "call",
            r"((Kernel|Process)\.)?(system|exec|spawn|eval)|IO\.popen|Open3\.\w+|PTY\.spawn",
        ),
        Rule("ruby.node.subshell", PROCESS, "node", "subshell"),
        Rule(
            "ruby.call.network",
            NETWORK,
            "call",
            r"Net::(HTTP|FTP|SMTP)\S*|URI\.open|(TCPSocket|UDPSocket|Socket)\.\w+|(HTTParty|Faraday|RestClient"
            r"|Excon|Typhoeus)(\.\w+|::\S+)",
        ),
        Rule("ruby.import.process", PROCESS, "import", r"open3|pty"),
        Rule(
            "ruby.import.network",
            NETWORK,
            "import",
            r"net/(http|https|ftp|smtp)|socket|open-uri|httparty|faraday|rest-client|excon|typhoeus",
        ),
    ),
    ordinary="|".join(_RUBY_STDLIB),
    tests=r"rspec(/.+)?|minitest(/.+)?|test/unit|spec_helper|rails_helper",
)

# grammar name -> table; TypeScript and TSX read like JavaScript.
TABLES: dict[str, Table] = {
    "python": _PYTHON,
    "javascript": _JAVASCRIPT,
    "typescript": _JAVASCRIPT,
    "tsx": _JAVASCRIPT,
    "go": _GO,
    "rust": _RUST,
    "java": _JAVA,
    "c": _c_table("c"),
    "cpp": _c_table("cpp"),
    "c_sharp": _C_SHARP,
    "ruby": _RUBY,
}

_NETWORK_SCHEMES = (
    "https?|ftps?|wss?|tcp|udp|ssh|sftp|telnet|smtps?|ldaps?|rediss?|mongodb(?:\\+srv)?|postgres(?:ql)?|mysql"
    "|amqps?|mqtt|nats|git|rsync|s3|gs|grpc"
)
# Namespace and schema identifiers that look like URLs but are never fetched.
NAMESPACE_HOSTS = frozenset(
    {
        "www.w3.org",
        "w3.org",
        "json-schema.org",
        "schemas.xmlsoap.org",
        "purl.org",
        "schemas.microsoft.com",
        "xmlns.com",
        "ns.adobe.com",
        "schemas.openxmlformats.org",
    }
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

# Rules on string literals, the same in every language (and on plain text without a grammar).
STRING_RULES: tuple[Rule, ...] = (
    Rule("string.url", URL, "string", rf"\b(?:{_NETWORK_SCHEMES})://([^\s'\"<>`\\)]*)", group=1),
    Rule("string.ip", IP, "string", rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w.])"),
    Rule(
        "string.network_tool",
        NETWORK,
        "string",
        r"(?<![\w-])(curl|wget|netcat|ncat|nc\s+-\w|scp|Invoke-WebRequest|Invoke-RestMethod)(?![\w-])",
        group=1,
    ),
    Rule(
        "string.shell",
        PROCESS,
        "string",
        r"(?<![\w/])((/usr)?/bin/)?(ba|z|da|k)?sh\s+-c\b|\bcmd(\.exe)?\s+/c\b|\bpowershell(\.exe)?\b",
    ),
    Rule("string.etc", SENSITIVE, "string", r"/etc/[\w.\-/]+"),
    Rule(
        "string.ssh",
        SENSITIVE,
        "string",
        r"\.ssh\b[\w.\-/]*|\bid_(rsa|dsa|ecdsa|ed25519)\b|\bauthorized_keys\b|\.gnupg\b",
    ),
    Rule(
        "string.credentials",
        SENSITIVE,
        "string",
        r"\.aws/credentials|\.aws/config|\.netrc\b|\.pgpass\b|\.git-credentials\b|\.npmrc\b|\.pypirc\b"
        r"|\.docker/config\.json|\.kube/config|\bcredentials\.json\b|/proc/self/environ|/var/run/secrets\S*"
        r"|\.(bash|zsh)_history\b|\bwallet\.dat\b|Login Data\b|\.config/gcloud\S*",
    ),
    Rule("string.dotenv", SENSITIVE, "string", r"(?<![\w.])\.env(\.[\w.]+)?(?![\w/])"),
    Rule(
        "string.blob",
        BLOB,
        "string",
        # A run of base64 / hex characters, or of \\xNN escapes; ``is_blob`` then wants the mix of a real
        # encoding (a long identifier-like word is no blob). Plain runs keep the match linear in time.
        r"[A-Za-z0-9+/_-]{100,}={0,2}|(?:\\x[0-9a-fA-F]{2}){32,}",
    ),
)

# Words in the user's own request that plainly ask for a capability. Diagnostics never count here:
# their text comes from the file, and so can be steered by whoever wrote it.
ASKS: dict[str, re.Pattern[str]] = {
    PROCESS: re.compile(
        r"\b(subprocess\w*|shell|spawn\w*|exec|popen|processbuilder|eval|child[ _]process\w*"
        r"|(run|call|invoke|execute)s? (a |an |the )?([\w-]+ )?"
        r"(command|program|process|binary|executable|script))\b",
        re.IGNORECASE,
    ),
    NETWORK: re.compile(
        r"\b(https?|urls?|fetch\w*|download\w*|upload\w*|web ?hooks?|endpoints?|api (call|request)s?|sockets?"
        r"|network\w*|tcp|udp|curl|wget|telemetry)\b",
        re.IGNORECASE,
    ),
    BLOB: re.compile(
        r"\b(base ?64|hex|encoded|blob|binary|bytes|hash(es)?|digest|checksum|sha\d*|md5|test vectors?"
        r"|certificate)\b",
        re.IGNORECASE,
    ),
}
# A request that names a URL, a host or an IP address asks for network access to it.
ASKS[NETWORK] = ASKS[URL] = ASKS[IP] = re.compile(
    ASKS[NETWORK].pattern
    + r"|://|\b(?:[\w-]+\.)+(?:com|net|org|io|dev|app|ai|co|edu|gov|example|test|local|internal)\b"
    + rf"|(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w.])",
    re.IGNORECASE,
)


def is_blob(text: str) -> bool:
    r"""Whether a run the blob rule matched looks encoded: ``\xNN`` escapes, hex, or base64's mix.

    Hex wants digits and letters, base64 digits and both cases: "aaaa…" or a long word is no blob.
    """
    if text.startswith("\\x"):
        return True
    digits = re.search(r"\d", text) is not None
    if re.fullmatch(r"[0-9a-fA-F]+", text):
        return digits and re.search(r"[a-fA-F]", text) is not None
    return digits and re.search(r"[A-Z]", text) is not None and re.search(r"[a-z]", text) is not None
