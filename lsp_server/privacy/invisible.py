"""Invisible and bidirectional Unicode: characters that hide text from a reader (Trojan Source).

They are stripped from every prompt and refused in model edits. Pure.
"""

from __future__ import annotations

import unicodedata

# Listed explicitly (rather than trusting the `Cf` category alone) so that the attack-relevant set
# does not depend on the Python build's Unicode version, and to add characters that are invisible
# without being `Cf`: variation selectors (used to smuggle bytes inside an emoji) and the Hangul
# fillers and braille blank (rendered as empty space).
_INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0xE0000, 0xE007F),  # tag characters: invisible ASCII copies ("ASCII smuggling")
    (0x200B, 0x200F),  # zero-width space/non-joiner/joiner, LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides (Trojan Source)
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x2069),  # bidi isolates (Trojan Source)
    (0xFEFF, 0xFEFF),  # zero-width no-break space / BOM, leading or not
    (0x061C, 0x061C),  # Arabic letter mark (bidi)
    (0x00AD, 0x00AD),  # soft hyphen
    (0x180E, 0x180E),  # Mongolian vowel separator
    (0xFE00, 0xFE0F),  # variation selectors
    (0xE0100, 0xE01EF),  # variation selectors supplement
    (0x115F, 0x1160),  # Hangul choseong/jungseong fillers
    (0x3164, 0x3164),  # Hangul filler
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0x2800, 0x2800),  # braille pattern blank
    (0xFFF9, 0xFFFB),  # interlinear annotation controls
)


def _is_invisible(ch: str) -> bool:
    cp = ord(ch)
    if cp < 0xAD:
        # ASCII and Latin-1 controls are left to the caller: tabs and newlines are code.
        return False
    if any(lo <= cp <= hi for lo, hi in _INVISIBLE_RANGES):
        return True
    return unicodedata.category(ch) == "Cf"


def strip_invisible(text: str) -> str:
    """Remove invisible and bidi-control characters (for prompt text only: offsets change)."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if not _is_invisible(ch))


def find_invisible(text: str) -> list[tuple[int, str]]:
    """(offset, Unicode name) of each invisible or bidi-control character, to flag model output."""
    if text.isascii():
        return []
    return [(i, unicodedata.name(ch, f"U+{ord(ch):04X}")) for i, ch in enumerate(text) if _is_invisible(ch)]
