"""A stand-in for the ``requests`` package, against which detect-secrets is imported.

detect-secrets imports ``requests`` at module level only to verify a found secret against its
provider's API over the network. Verification is never wanted here: a secret found in a prompt must
not be sent anywhere, not even to check it. Yet importing ``requests`` (urllib3, charset
detection, certificates) is about 55 ms of a 75 ms scanner load, and a model's first prompt waits
for that load (``Session.ensure_privacy``).

So the scanner is imported while ``sys.modules["requests"]`` is this stand-in. Whatever
detect-secrets touches at import time exists (``Response``, ``exceptions.RequestException``); every
call that would send a request raises ``RequestException``, which detect-secrets' verification
already handles as "could not verify". Not sending a secret becomes a property of the code, on top
of the verification filter the scanner turns off.

Written by hand because no library offers a network-free ``requests``; the stand-in is in
``sys.modules`` only while the scanner imports (``standing_in``), then the previous entry (the real
package, if anything had imported it) is put back, so the rest of the process is unaffected.

Owns nothing else; must not import pygls, openai or requests.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any, NoReturn

REFUSAL = "llm-lsp never verifies secrets over the network"


class RequestException(OSError):
    """What every request through the stand-in raises (``requests.exceptions.RequestException``)."""


class Response:
    """Named in detect-secrets' annotations; never built."""


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise RequestException(REFUSAL)


def _module() -> types.ModuleType:
    module = types.ModuleType("requests", __doc__)
    exceptions = types.ModuleType("requests.exceptions")
    exceptions.RequestException = RequestException  # type: ignore[attr-defined]
    module.exceptions = exceptions  # type: ignore[attr-defined]
    module.RequestException = RequestException  # type: ignore[attr-defined]
    module.Response = Response  # type: ignore[attr-defined]
    for verb in ("request", "get", "head", "post", "put", "patch", "delete", "options"):
        setattr(module, verb, _refuse)
    return module


_swap = threading.Lock()  # two threads standing in at once would restore each other's entries


@contextlib.contextmanager
def standing_in() -> Iterator[types.ModuleType]:
    """``import requests`` gives the stand-in inside this block; the previous entry comes back after."""
    with _swap:
        previous = sys.modules.get("requests")
        previous_exceptions = sys.modules.get("requests.exceptions")
        stand_in = _module()
        sys.modules["requests"] = stand_in
        sys.modules["requests.exceptions"] = stand_in.exceptions
        try:
            yield stand_in
        finally:
            for name, entry in (("requests", previous), ("requests.exceptions", previous_exceptions)):
                if entry is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = entry
