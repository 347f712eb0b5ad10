"""The secret scanner is imported against a stand-in for ``requests`` that refuses every request.

Each check that needs a fresh interpreter (the scanner loads once per process) runs one.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lsp_server.privacy import no_network

_SCANNED = (
    "import json, sys\n"
    "from lsp_server.privacy import redaction\n"
    "{setup}\n"
    "redaction.load_scanner()\n"
    "line = 'stripe_key = \"sk_live_' + 'a1B2c3D4e5F6g7H8i9J0k1L2' + '\"'\n"
    "print(json.dumps({{\n"
    "    'plugins': sorted(type(p).__name__ for p in redaction._scanner().plugins),\n"
    "    'real_requests_loaded': 'urllib3' in sys.modules,\n"
    "    'requests_in_modules': 'requests' in sys.modules,\n"
    "    'redacted': redaction.redact(line).text,\n"
    "}}))\n"
)


def _scan_in_fresh_interpreter(setup: str = "") -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _SCANNED.format(setup=setup)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_the_scanner_loads_every_plugin_without_the_real_requests() -> None:
    stand_in = _scan_in_fresh_interpreter()
    # The same plugins as detect-secrets imported with the real package.
    real = _scan_in_fresh_interpreter(
        "import contextlib\nno_network = redaction.no_network\n"
        "no_network.standing_in = contextlib.nullcontext"
    )
    assert real["real_requests_loaded"] is True
    assert stand_in["real_requests_loaded"] is False
    assert stand_in["requests_in_modules"] is False  # the stand-in left sys.modules as it found it
    assert stand_in["plugins"] == real["plugins"]
    assert "IbmCloudIamDetector" in stand_in["plugins"]  # the plugins that name requests.Response
    assert "sk_live_" not in stand_in["redacted"] and "<redacted-secret>" in stand_in["redacted"]


def test_a_stand_in_missing_what_detect_secrets_needs_falls_back_to_the_real_package() -> None:
    # As if a later detect-secrets used more of requests at import time than the stand-in offers.
    broken = (
        "no_network = redaction.no_network\n"
        "made = no_network._module\n"
        "def without_response():\n"
        "    module = made()\n"
        "    del module.Response\n"
        "    return module\n"
        "no_network._module = without_response"
    )
    result = _scan_in_fresh_interpreter(broken)
    assert result["real_requests_loaded"] is True
    assert "IbmCloudIamDetector" in result["plugins"]
    assert "sk_live_" not in result["redacted"] and "<redacted-secret>" in result["redacted"]


def test_every_request_through_the_stand_in_is_refused() -> None:
    with no_network.standing_in() as stand_in:
        import requests  # the stand-in, inside this block

        assert requests is stand_in
        for verb in ("get", "post", "request"):
            with pytest.raises(requests.exceptions.RequestException, match="never verifies"):
                getattr(requests, verb)("https://api.stripe.com/v1/charges")


def test_the_previous_entry_comes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    sentinel = object()
    monkeypatch.setitem(sys.modules, "requests", sentinel)
    with no_network.standing_in() as stand_in:
        assert sys.modules["requests"] is stand_in
    assert sys.modules["requests"] is sentinel
