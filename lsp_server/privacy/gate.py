"""Exclusion: which files no AI feature may read or send (DESIGN.md invariant 7).

A file is excluded by a built-in denylist of credential files that nothing can re-include, then by
the ``privacy.exclude`` setting, ``.llm-lspignore`` files and ``.gitignore`` files, all in gitignore
syntax (``pathspec.GitIgnoreSpec``). Synchronous; ``exclusion_reason`` reads the ignore files of
the directories above a path the first time one is judged (``_Root``) and resolves symlinks (a link
named ``notes.txt`` that points at ``~/.ssh/id_rsa`` is judged by its target too). Must not import
pygls or openai.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
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

SETTING_SOURCE = "setting: exclude"

_VERDICT_CACHE_MAX = 50_000
#: Directories whose ignore files (or their absence) are remembered; past it the memory is dropped
#: and files are read again as paths are judged (about 200 bytes an entry).
_DIRECTORY_CACHE_MAX = 20_000


@dataclass(frozen=True)
class _IgnoreFile:
    """One ignore file (or the setting), applying to paths under `base` (relative to its root)."""

    base: str
    source: str
    spec: pathspec.GitIgnoreSpec


@dataclass
class _Root:
    """A workspace root: the setting's rules, and its directories' ignore files read as they are needed.

    The ignore files that apply to a path are those of its directories, from the root down, as far
    as a walk from the root would go: not into a vendored directory (``VENDORED_DIRS``) nor into one
    the rules found above it already exclude (git does not read ignore files there either). So only
    the directories above a judged path are ever read, each once, and loading a gate costs nothing
    whatever the size of the workspace: a walk of every directory took 15 ms on CPython's standard
    library and 0.2 s on ``/usr/lib`` before a first prompt could be built.
    """

    path: Path
    setting: tuple[_IgnoreFile, ...]
    _files: dict[tuple[str, str], _IgnoreFile | None] = field(default_factory=dict, repr=False)

    def rules_for(self, rel: str) -> list[_IgnoreFile]:
        """The rules that may judge ``rel`` (a path relative to the root), highest precedence first.

        Precedence: the setting, then ``.llm-lspignore`` files, then ``.gitignore`` files, the
        deepest first within each: ``.llm-lspignore`` wins over ``.gitignore`` so that a user can
        send a git-ignored file (generated code) with a ``!`` pattern.
        """
        parts = rel.split("/")[:-1]
        directories = [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]
        gitignores = self._walk(directories, GITIGNORE, lambda found: [*found, *self.setting])
        ours = self._walk(directories, LLMLSPIGNORE, lambda found: [*found, *self.setting, *gitignores])
        return [*self.setting, *ours, *gitignores]

    def _walk(
        self,
        directories: list[str],
        name: str,
        pruning: Callable[[list[_IgnoreFile]], list[_IgnoreFile]],
    ) -> list[_IgnoreFile]:
        """The ``name`` files of ``directories`` (root first) that a walk would read, deepest first.

        ``pruning(found)`` gives the rules that decide whether the walk enters a directory, from the
        ignore files found above it (deepest first).
        """
        found: list[_IgnoreFile] = []
        for directory in directories:
            if directory:
                if directory.rsplit("/", 1)[-1] in VENDORED_DIRS:
                    break
                if _verdict(pruning(found), directory + "/") is not None:
                    break
            rule = self._file(directory, name)
            if rule is not None:
                found.insert(0, rule)
        return found

    def _file(self, directory: str, name: str) -> _IgnoreFile | None:
        key = (directory, name)
        try:
            return self._files[key]
        except KeyError:
            pass
        spec = _read_spec(self.path / directory / name)
        rule = _IgnoreFile(directory, name, spec) if spec is not None else None
        if len(self._files) >= _DIRECTORY_CACHE_MAX:
            self._files.clear()
        self._files[key] = rule
        return rule


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


def _load_root(root: Path, extra_exclude: Sequence[str]) -> _Root:
    setting = (
        (_IgnoreFile("", SETTING_SOURCE, pathspec.GitIgnoreSpec.from_lines(list(extra_exclude))),)
        if extra_exclude
        else ()
    )
    return _Root(root, setting)


@dataclass
class PrivacyGate:
    """Decides which files may be read into a prompt.

    Supported gitignore semantics: the `.gitignore` and `.llm-lspignore` files of a path's
    directories apply (vendored directories and directories already ignored are not searched; each
    directory is read once, when a path under it is first judged: ``_Root``); a nested file applies
    to its own directory and takes precedence over its parents; inside one file the last matching
    pattern wins (`pathspec.GitIgnoreSpec`).
    Not supported: `.git/info/exclude`, the global `core.excludesFile`, and git's rule that a file
    inside an excluded directory cannot be re-included (a `!` pattern here re-includes it).
    Files outside every root are judged by the denylist only.
    """

    roots: tuple[_Root, ...]
    extra_exclude: tuple[str, ...] = ()
    _cache: dict[str, str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, roots: Sequence[Path], extra_exclude: Sequence[str] = ()) -> PrivacyGate:
        """A gate for `roots`; `extra_exclude` are gitignore patterns from settings.

        Nothing under the roots is read here: each directory's ignore files are read when a path under
        it is first judged.
        """
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
        return _verdict(root.rules_for(rel), rel)
