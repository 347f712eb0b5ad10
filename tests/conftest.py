"""Shared test set-up: makes the test helpers beside this file (fake_openai, ...) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
