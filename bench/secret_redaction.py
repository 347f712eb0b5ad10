"""Measure the privacy gate's secret redaction: recall, false positives and cost.

Run: python bench/secret_redaction.py [--fp-lines 20000] [--per-format 50] [--seed 7]

1. Recall: fake keys of many provider formats (random bodies of the right alphabet and length)
   embedded in realistic code lines of several languages; a key counts as caught when it no longer
   appears in `redact(line, filename)`. Reported per format and per language, with and without the
   short-line pre-filter.
2. False positives: real source lines from the stdlib and site-packages of this interpreter; a line
   counts when `redact` changes it. Examples are printed so they can be judged.
3. Cost: first-use import, per line cold vs cached, a 200-line window cold / warm / after a
   one-line change, and `redact_fim` after a keystroke.

It prints what it measured; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import string
import sys
import sysconfig
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

from lsp_server.privacy import redaction

ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = ALNUM + "+/"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    """A well-formed JWT (JSON header and payload, as real ones are) with a random HS256 signature."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    claims = {"sub": _r(rng, ALNUM, rng.randint(8, 24)), "iat": rng.randint(1.5e9, 1.8e9), "role": "user"}
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}.{b64(rng.randbytes(32))}"


# Each format: name -> generator of a fake key with the provider's shape.
FORMATS: dict[str, Callable[[random.Random], str]] = {
    "aws-access-key-id": lambda r: "AKIA" + _r(r, UPPER_DIGITS, 16),
    "aws-secret-key": lambda r: _r(r, B64, 40),
    "github-classic": lambda r: r.choice(["ghp_", "gho_", "ghs_", "ghu_"]) + _r(r, ALNUM, 36),
    "github-fine-grained": lambda r: "github_pat_" + _r(r, ALNUM, 22) + "_" + _r(r, ALNUM, 59),
    "gitlab-pat": lambda r: "glpat-" + _r(r, ALNUM + "_-", 20),
    "openai-project": lambda r: "sk-proj-" + _r(r, ALNUM, 74) + "T3BlbkFJ" + _r(r, ALNUM, 74),
    "openai-legacy": lambda r: "sk-" + _r(r, ALNUM, 20) + "T3BlbkFJ" + _r(r, ALNUM, 20),
    "anthropic": lambda r: "sk-ant-api03-" + _r(r, ALNUM + "-_", 93) + "AA",
    "slack-bot": lambda r: f"xoxb-{_r(r, string.digits, 11)}-{_r(r, string.digits, 13)}-{_r(r, ALNUM, 24)}",
    "stripe-live": lambda r: r.choice(["sk_live_", "rk_live_"]) + _r(r, ALNUM, 24),
    "sendgrid": lambda r: "SG." + _r(r, ALNUM + "-_", 22) + "." + _r(r, ALNUM + "-_", 43),
    "npm": lambda r: "npm_" + _r(r, ALNUM, 36),
    "pypi": lambda r: "pypi-AgEIcHlwaS5vcmc" + _r(r, ALNUM + "-_", 60),
    "twilio": lambda r: "SK" + _r(r, HEX, 32),
    "google-api": lambda r: "AIza" + _r(r, ALNUM + "-_", 35),
    "mailchimp": lambda r: _r(r, HEX, 32) + "-us" + str(r.randint(1, 20)),
    "jwt": lambda r: _jwt(r),
    "password": lambda r: _r(r, ALNUM, 6) + r.choice("!#%&*") + _r(r, ALNUM, 5),
    "url-credentials": lambda r: _r(r, ALNUM, 16),
}

# Language templates: (language, file name given to redact, line template). `{k}` is the key,
# `{v}` a variable name that fits the format. URL credentials get their own templates below.
TEMPLATES: list[tuple[str, str, str]] = [
    ("python", "settings.py", '{v} = "{k}"'),
    ("python", "client.py", 'client = Client(api_key="{k}", timeout=30)'),
    ("javascript", "index.js", "const {v} = '{k}';"),
    ("typescript", "api.ts", 'headers: {{ Authorization: "Bearer {k}" }},'),
    ("go", "main.go", '{v} := "{k}"'),
    ("java", "Config.java", 'private static final String {V} = "{k}";'),
    ("rust", "main.rs", 'let {v} = "{k}";'),
    ("shell", "deploy.sh", 'export {V}="{k}"'),
    ("yaml", "config.yaml", "{v}: {k}"),
    ("json", "config.json", '"{v}": "{k}",'),
    ("dockerfile", "Dockerfile", "ENV {V}={k}"),
]
URL_TEMPLATES: list[tuple[str, str, str]] = [
    ("python", "db.py", 'DATABASE_URL = "postgres://app_user:{k}@db.internal:5432/app"'),
    ("javascript", "db.js", "const uri = 'mongodb+srv://admin:{k}@cluster0.example.net/test';"),
    ("yaml", "compose.yaml", "      - REDIS_URL=redis://default:{k}@cache:6379/0"),
    ("shell", "run.sh", 'curl -s "https://deploy:{k}@ci.example.com/api/build"'),
]
VAR_NAMES = {
    "password": ["password", "db_password", "admin_pass", "secret"],
    "aws-secret-key": ["aws_secret_access_key", "secret_key"],
}


def recall_corpus(per_format: int, seed: int) -> list[tuple[str, str, str, str, str]]:
    """(format, language, filename, line, key) for `per_format` keys of each format."""
    rng = random.Random(seed)
    corpus = []
    for name, make in FORMATS.items():
        templates = URL_TEMPLATES if name == "url-credentials" else TEMPLATES
        for i in range(per_format):
            key = make(rng)
            lang, filename, template = templates[i % len(templates)]
            var = rng.choice(VAR_NAMES.get(name, ["api_key", "token", "auth_token", "apiKey"]))
            line = template.format(k=key, v=var, V=var.upper())
            corpus.append((name, lang, filename, line, key))
    return corpus


def pem_corpus(count: int, seed: int) -> list[tuple[str, str]]:
    """Multi-line private keys as they appear in code, with and without END (cut window)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        kind = rng.choice(["RSA ", "EC ", "OPENSSH ", "", "ENCRYPTED "])
        body = "\n".join(_r(rng, B64, 64) for _ in range(rng.randint(3, 12)))
        block = f"-----BEGIN {kind}PRIVATE KEY-----\n{body}\n-----END {kind}PRIVATE KEY-----"
        if i % 3 == 0:
            text = f'KEY = """{block}"""\nprint(KEY)\n'
        elif i % 3 == 1:
            text = f'{{"private_key": "{block.replace(chr(10), chr(92) + "n")}\\n"}}\n'
        else:
            # The prompt window ends inside the block.
            text = f"key = '''{block.split('-----END')[0]}"
        out.append((text, body))
    return out


def measure_recall(corpus, pems) -> tuple[dict[str, list[int]], dict[str, list[int]], list[str]]:
    by_format: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_lang: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    missed = []
    for name, lang, filename, line, key in corpus:
        caught = key not in redaction.redact(line, filename).text
        for table, k in ((by_format, name), (by_lang, lang)):
            table[k][0] += caught
            table[k][1] += 1
        if not caught:
            missed.append(f"{name:20} {lang:11} {line[:100]}")
    for text, body in pems:
        result = redaction.redact(text).text
        caught = not any(chunk in result for chunk in body.split("\n"))
        by_format["private-key-pem"][0] += caught
        by_format["private-key-pem"][1] += 1
        if not caught:
            missed.append(f"private-key-pem {text[:80]!r}")
    return by_format, by_lang, missed


def real_source_lines(n: int) -> list[tuple[str, str]]:
    """(file name, line) from the stdlib and site-packages, whole files in sorted order."""
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    out: list[tuple[str, str]] = []
    per_root = n // len(roots)
    for root in roots:
        taken = 0
        for path in sorted(root.rglob("*.py")):
            if "test" in path.parts or "tests" in path.parts or taken >= per_root:
                continue
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (UnicodeDecodeError, OSError):
                continue
            lines = lines[: per_root - taken]
            out.extend((path.name, line) for line in lines)
            taken += len(lines)
    return out


def measure_false_positives(lines) -> tuple[int, Counter, list[str]]:
    changed = 0
    kinds: Counter = Counter()
    examples = []
    for filename, line in lines:
        result = redaction.redact(line, filename)
        if result.count:
            changed += 1
            kinds[filename.rsplit(".", 1)[-1]] += 1
            if len(examples) < 15:
                examples.append(f"{filename}: {line.strip()[:100]}")
    return changed, kinds, examples


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fp-lines", type=int, default=20_000)
    parser.add_argument("--per-format", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, detect-secrets {_ds_version()}")

    first_use = timed(redaction._scanner)
    print(f"\n== first use (import detect-secrets, build plugins): {first_use * 1e3:.0f} ms")

    corpus = recall_corpus(args.per_format, args.seed)
    pems = pem_corpus(args.per_format, args.seed)
    print(f"\n== recall: {len(corpus) + len(pems)} keys, {len(FORMATS) + 1} formats, seed {args.seed}")
    by_format, by_lang, missed = measure_recall(corpus, pems)
    total_caught = sum(c for c, _ in by_format.values())
    total = sum(n for _, n in by_format.values())
    for name, (caught, n) in sorted(by_format.items()):
        print(f"  {name:22} {caught:4}/{n:<4} {100 * caught / n:6.1f} %")
    print(f"  {'ALL':22} {total_caught:4}/{total:<4} {100 * total_caught / total:6.1f} %")
    print("  by language:")
    for lang, (caught, n) in sorted(by_lang.items()):
        print(f"    {lang:12} {caught:4}/{n:<4} {100 * caught / n:6.1f} %")
    print(f"  missed ({len(missed)}), first 20:")
    for line in missed[:20]:
        print(f"    {line}")

    # The pre-filter skips lines shorter than _MIN_SCANNED_CHARS; re-run with it off to show what
    # (if anything) it costs in recall.
    saved = redaction._MIN_SCANNED_CHARS
    redaction._MIN_SCANNED_CHARS = 0
    redaction.clear_cache()
    by_format_off, _, _ = measure_recall(corpus, pems)
    redaction._MIN_SCANNED_CHARS = saved
    redaction.clear_cache()
    caught_off = sum(c for c, _ in by_format_off.values())
    print(f"  pre-filter off: {caught_off}/{total} caught (on: {total_caught}/{total})")
    short = [f"pwd={_r(random.Random(i), ALNUM, 3)}" for i in range(200)]
    short_hits = sum(redaction.redact(s, "a.yaml").count > 0 for s in short)
    print(
        f"  {short_hits}/200 seven-character config lines like 'pwd=abc' are reported with the pre-filter on"
    )

    lines = real_source_lines(args.fp_lines)
    print(f"\n== false positives on {len(lines)} real source lines (stdlib + site-packages)")
    redaction.clear_cache()
    start = time.perf_counter()
    changed, kinds, examples = measure_false_positives(lines)
    cold_all = time.perf_counter() - start
    print(f"  lines changed: {changed} ({100 * changed / len(lines):.3f} %)")
    print("  examples:")
    for line in examples:
        print(f"    {line}")
    distinct = len({line for _, line in lines})
    print(
        f"  scan cost, cold, pre-filter on: {cold_all / len(lines) * 1e6:.0f} us/line ({distinct} distinct)"
    )
    redaction._MIN_SCANNED_CHARS = 0
    redaction.clear_cache()
    cold_off = timed(lambda: measure_false_positives(lines))
    redaction._MIN_SCANNED_CHARS = saved
    print(f"  scan cost, cold, pre-filter off: {cold_off / len(lines) * 1e6:.0f} us/line")
    sample = lines[:5000]
    redaction.clear_cache()
    cold_sample = timed(lambda: [redaction.redact(line, name) for name, line in sample])
    warm = timed(lambda: [redaction.redact(line, name) for name, line in sample])
    print(
        f"  first 5000 lines: cold {cold_sample / 5000 * 1e6:.1f} us/line,"
        f" cached {warm / 5000 * 1e6:.1f} us/line (LRU {redaction.LINE_CACHE_SIZE} lines)"
    )

    print("\n== a 200-line prompt window (argparse.py lines 1000-1200 + 3 canaries)")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    window_lines = (stdlib / "argparse.py").read_text().splitlines()[1000:1197]
    window_lines[50:50] = [corpus[0][3], corpus[100][3], corpus[300][3]]
    window = "\n".join(window_lines)
    redaction.clear_cache()
    cold = timed(lambda: redaction.redact(window, "argparse.py"))
    warm = timed(lambda: redaction.redact(window, "argparse.py"), repeat=50)
    edits = []
    for i in range(30):
        # A keystroke: one line changes (a new character appended), the rest are cached.
        edited = window_lines.copy()
        edited[120] = edited[120] + "x" * (i + 1)
        text = "\n".join(edited)
        edits.append(timed(lambda text=text: redaction.redact(text, "argparse.py")))
    cut = window.index("\n", len(window) // 2)
    fim = []
    for i in range(30):
        prefix, suffix = window[:cut] + "y" * (i + 1), window[cut:]
        fim.append(timed(lambda p=prefix, s=suffix: redaction.redact_fim(p, s, "argparse.py")))
    print(f"  cold:                        {cold * 1e3:7.2f} ms")
    print(f"  warm (same text):            {warm * 1e3:7.2f} ms")
    print(f"  after a one-line change:     {_median(edits) * 1e3:7.2f} ms (median of 30)")
    print(f"  redact_fim after keystroke:  {_median(fim) * 1e3:7.2f} ms (median of 30)")
    print(f"  secrets found in window: {redaction.redact(window, 'argparse.py').count}")


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _ds_version() -> str:
    from importlib.metadata import version

    return version("detect-secrets")


if __name__ == "__main__":
    main()
