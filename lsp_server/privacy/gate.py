"""Exclusion: which files no AI feature may read or send (DESIGN.md invariant 7).

A file is excluded by a built-in denylist of credential files that nothing can re-include, then by
the ``privacy.exclude`` setting, ``.llm-lspignore`` files and ``.gitignore`` files, all in gitignore
syntax (``pathspec.GitIgnoreSpec``). Synchronous; ``PrivacyGate.load`` reads ignore files from disk
and ``exclusion_reason`` resolves symlinks (a link named ``notes.txt`` that points at
``~/.ssh/id_rsa`` is judged by its target too). Must not import pygls or openai.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from lsp_server.core.layout import GITIGNORE, LLMLSPIGNORE, VENDORED_DIRS

#: Credential files that are never sent, whatever any ignore file or setting says. Each entry is
#: (gitignore pattern, why). Patterns are matched case-insensitively (macOS and Windows file systems
#: are case-insensitive, so `.ENV` is the same file as `.env`). A pattern with an inner slash is
#: written with a leading `**/` because gitignore anchors such patterns to the root otherwise.
DENYLIST: tuple[tuple[str, str], ...] = (
    # Environment files: dotenv, direnv and the `prod.env` naming style all hold live secrets.
    (".env", "dotenv file"),
    (".env.*", "dotenv variant (.env.local, .env.production, ...)"),
    ("*.env", "dotenv file named by environment"),
    (".envrc", "direnv file, usually exports secrets"),
    # Private keys and key stores.
    ("*.pem", "PEM key or certificate bundle, often holds a private key"),
    ("*.key", "private key (TLS, Rails master.key, ...)"),
    ("id_rsa*", "SSH key"),
    ("id_dsa*", "SSH key"),
    ("id_ecdsa*", "SSH key"),
    ("id_ed25519*", "SSH key"),
    ("*.ppk", "PuTTY private key"),
    ("*.p8", "PKCS#8 private key (Apple push/App Store keys)"),
    ("*.p12", "PKCS#12 key store"),
    ("*.pfx", "PKCS#12 key store"),
    ("*.keystore", "Java/Android key store"),
    ("*.jks", "Java key store"),
    ("*.gpg", "GnuPG encrypted file or keyring"),
    ("*.kdbx", "KeePass password database"),
    ("*.ovpn", "OpenVPN profile, usually embeds a private key"),
    # Credential directories of common tools.
    (".ssh/", "SSH directory"),
    (".gnupg/", "GnuPG directory"),
    (".aws/", "AWS CLI credentials and config"),
    (".azure/", "Azure CLI tokens"),
    ("**/.config/gcloud/", "Google Cloud SDK credentials"),
    (".password-store/", "pass password store"),
    (".git/", "git internals (remote URLs may embed credentials)"),
    # Credential files of common tools.
    (".npmrc", "npm auth tokens"),
    (".pypirc", "PyPI upload credentials"),
    (".netrc", "netrc login passwords"),
    ("_netrc", "netrc login passwords (Windows name)"),
    (".git-credentials", "git credential store"),
    (".htpasswd", "HTTP basic-auth password hashes"),
    (".pgpass", "PostgreSQL passwords"),
    (".my.cnf", "MySQL client passwords"),
    (".boto", "boto/gsutil credentials"),
    (".s3cfg", "s3cmd credentials"),
    (".dockercfg", "legacy Docker registry auth"),
    ("**/.docker/config.json", "Docker registry auth"),
    ("**/.kube/config", "Kubernetes cluster credentials"),
    ("kubeconfig", "Kubernetes cluster credentials"),
    (".vault-token", "HashiCorp Vault token"),
    (".terraformrc", "Terraform Cloud token"),
    ("terraform.rc", "Terraform Cloud token (Windows name)"),
    ("**/.config/gh/hosts.yml", "GitHub CLI token"),
    ("**/.config/hub", "hub CLI token"),
    ("**/.m2/settings.xml", "Maven repository passwords"),
    ("**/.gradle/gradle.properties", "Gradle user properties (publishing tokens)"),
    ("**/.composer/auth.json", "Composer auth tokens"),
    ("**/.config/composer/auth.json", "Composer auth tokens"),
    ("credentials*", "credentials file (.aws, .cargo, .gem, gcloud, Terraform ...)"),
    ("secrets.*", "secrets file (secrets.yml, secrets.json, ...)"),
    ("*.secret", "file named as a secret"),
    ("*.secrets", "file named as secrets"),
    ("service-account*.json", "Google service-account key"),
    ("service_account*.json", "Google service-account key"),
    # Infrastructure state that stores secrets in clear text.
    ("*.tfstate", "Terraform state (resource secrets in clear text)"),
    ("*.tfstate.*", "Terraform state backup"),
    ("*.tfvars", "Terraform variables, commonly secrets"),
    # Shell and REPL histories: pasted tokens and passwords end up there.
    (".*_history", "shell/REPL history"),
    (".histfile", "shell history"),
)

#: Directories never walked when looking for nested `.gitignore` files: dependency trees and build
#: output are large and their ignore files do not describe the user's code.

#: Upper bound on directories visited per root when collecting nested ignore files, so that opening
#: a huge tree (a home directory, a monorepo) cannot stall start-up. Past it only the ignore files
#: already found apply (the root one is always read first).
MAX_WALKED_DIRS = 20_000

SETTING_SOURCE = "setting: exclude"

_VERDICT_CACHE_MAX = 50_000


@dataclass(frozen=True)
class _IgnoreFile:
    """One ignore file (or the setting), applying to paths under `base` (relative to its root)."""

    base: str
    source: str
    spec: pathspec.GitIgnoreSpec


@dataclass(frozen=True)
class _Root:
    """A workspace root with its ignore rules, highest precedence first."""

    path: Path
    rules: tuple[_IgnoreFile, ...]


def _is_name_pattern(pattern: str) -> bool:
    return "/" not in pattern


# A name pattern (`credentials*`) is matched against the file's base name only: in gitignore it would
# also match a directory and deny everything under `credentials_service/`, which is far too broad.
# Directory and path patterns (`.ssh/`, `**/.kube/config`) are matched against the whole path.
# Listed in reverse because a spec reports the last pattern that matches, and the reason should
# name the first (most specific) entry of DENYLIST.
_DENY_NAMES = [pattern for pattern, _ in reversed(DENYLIST) if _is_name_pattern(pattern)]
_DENY_PATHS = [pattern for pattern, _ in reversed(DENYLIST) if not _is_name_pattern(pattern)]
_DENY_NAME_SPEC = pathspec.GitIgnoreSpec.from_lines([p.lower() for p in _DENY_NAMES])
_DENY_PATH_SPEC = pathspec.GitIgnoreSpec.from_lines([p.lower() for p in _DENY_PATHS])


def denylist_reason(path: str | Path) -> str | None:
    """Return `"denylist: <pattern>"` if the path names a credential file, else None.

    Independent of workspace roots: pass an absolute path so that directory patterns see every
    ancestor (a workspace opened at `~/.ssh` is still inside `.ssh/`).
    """
    text = str(path).replace(os.sep, "/").strip("/").lower()
    if not text:
        return None
    name = text.rsplit("/", 1)[-1]
    result = _DENY_NAME_SPEC.check_file(name)
    if result.include and result.index is not None:
        return f"denylist: {_DENY_NAMES[result.index]}"
    result = _DENY_PATH_SPEC.check_file(text)
    if result.include and result.index is not None:
        return f"denylist: {_DENY_PATHS[result.index]}"
    return None


def _read_spec(file: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _relative(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix()


def _verdict(rules: Sequence[_IgnoreFile], rel: str) -> str | None:
    """Judge `rel` with the first rule set that has an opinion (a match or a `!` re-include)."""
    for rule in rules:
        if rule.base:
            if not rel.startswith(rule.base + "/"):
                continue
            sub = rel[len(rule.base) + 1 :]
        else:
            sub = rel
        result = rule.spec.check_file(sub)
        if result.include is True:
            return rule.source
        if result.include is False:
            return None
    return None


def _deepest_first(rule: _IgnoreFile) -> tuple[int, str]:
    depth = rule.base.count("/") + 1 if rule.base else 0
    return (-depth, rule.base)


def _collect_ignore_files(root: Path, name: str, outer: Sequence[_IgnoreFile]) -> list[_IgnoreFile]:
    """Find every `name` file under root, skipping vendored and already-ignored directories.

    Returned deepest first, because a nested ignore file takes precedence in its own directory.
    """
    found: list[_IgnoreFile] = []
    visited = 0
    for dirpath, dirnames, filenames in os.walk(root):
        visited += 1
        here = Path(dirpath)
        base = _relative(here, root) or ""
        base = "" if base == "." else base
        if name in filenames:
            spec = _read_spec(here / name)
            if spec is not None:
                found.append(_IgnoreFile(base, name, spec))
        if visited >= MAX_WALKED_DIRS:
            break
        rules = [*sorted(found, key=_deepest_first), *outer]
        kept = []
        for d in sorted(dirnames):
            rel = f"{base}/{d}" if base else d
            if d in VENDORED_DIRS or _verdict(rules, rel + "/") is not None:
                continue
            kept.append(d)
        dirnames[:] = kept
    return sorted(found, key=_deepest_first)


def _load_root(root: Path, extra_exclude: Sequence[str]) -> _Root:
    setting = (
        [_IgnoreFile("", SETTING_SOURCE, pathspec.GitIgnoreSpec.from_lines(list(extra_exclude)))]
        if extra_exclude
        else []
    )
    gitignores = _collect_ignore_files(root, GITIGNORE, setting)
    ours = _collect_ignore_files(root, LLMLSPIGNORE, [*setting, *gitignores])
    # Precedence: the setting, then our own ignore files, then git's. `.llm-lspignore` wins over
    # `.gitignore` so that a user can send a git-ignored file (generated code) with a `!` pattern.
    return _Root(root, (*setting, *ours, *gitignores))


@dataclass
class PrivacyGate:
    """Decides which files may be read into a prompt.

    Supported gitignore semantics: every `.gitignore` and `.llm-lspignore` under a root is read
    (vendored directories and directories already ignored are not searched, up to
    `MAX_WALKED_DIRS` per root); a nested file applies to its own directory and takes precedence
    over its parents; inside one file the last matching pattern wins (`pathspec.GitIgnoreSpec`).
    Not supported: `.git/info/exclude`, the global `core.excludesFile`, and git's rule that a file
    inside an excluded directory cannot be re-included (a `!` pattern here re-includes it).
    Files outside every root are judged by the denylist only.
    """

    roots: tuple[_Root, ...]
    extra_exclude: tuple[str, ...] = ()
    _cache: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, roots: Sequence[Path], extra_exclude: Sequence[str] = ()) -> PrivacyGate:
        """Read the ignore files under `roots`; `extra_exclude` are gitignore patterns from settings."""
        extra = tuple(extra_exclude)
        return cls(tuple(_load_root(Path(os.path.realpath(r)), extra) for r in roots), extra)

    def invalidate(self) -> None:
        """Re-read every ignore file (call when one changes) and forget cached verdicts."""
        reloaded = PrivacyGate.load([r.path for r in self.roots], self.extra_exclude)
        self.roots = reloaded.roots
        self._cache.clear()

    def exclusion_reason(self, path: str | Path) -> str | None:
        """Why `path` must not be sent (`"denylist: .env"`, `".gitignore"`, ...), or None if it may.

        A relative path is taken relative to the first root.
        """
        key = str(path)
        try:
            return self._cache[key]
        except KeyError:
            pass
        reason = self._judge(Path(key))
        if len(self._cache) >= _VERDICT_CACHE_MAX:
            self._cache.clear()
        self._cache[key] = reason
        return reason

    def is_excluded(self, path: str | Path) -> bool:
        """Whether `path` must not be read into a prompt."""
        return self.exclusion_reason(path) is not None

    def _judge(self, path: Path) -> str | None:
        if not path.is_absolute() and self.roots:
            path = self.roots[0].path / path
        path = Path(os.path.normpath(path))
        real = Path(os.path.realpath(path))
        for candidate in [path] if real == path else [path, real]:
            reason = self._judge_one(candidate)
            if reason:
                return reason
        return None

    def _judge_one(self, path: Path) -> str | None:
        # The innermost root containing the path owns it (workspace folders may nest).
        denied = denylist_reason(path)
        if denied:
            return denied
        # The innermost root containing the path owns it (workspace folders may nest).
        owners = [(root, rel) for root in self.roots if (rel := _relative(path, root.path)) is not None]
        if not owners:
            return None
        root, rel = max(owners, key=lambda owner: len(owner[0].path.parts))
        return _verdict(root.rules, rel)
