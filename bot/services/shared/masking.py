"""Mask personal data for public answers: names and phone numbers."""

from __future__ import annotations

import re
import unicodedata

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]")
_SEPARATORS = re.compile(r"[\s·•．.\-_,]+")


def _is_cjk_name(name: str) -> bool:
    return bool(_CJK.search(name))


def mask_name(name: str) -> str:
    """A name with only its first (and, from three characters, last) character shown.

    张三 → 张*, 张小华 → 张*华, 欧阳娜娜 → 欧**娜; Latin names show initials only:
    John Smith → J* S*, Madonna → M*. Never returns the full name.
    """
    # The mask character is never part of a name: dropping it means a masked result can
    # never be mistaken for (or equal) the name it hides.
    text = unicodedata.normalize("NFKC", name or "").replace("*", "").strip()
    if not text:
        return "*"
    if _is_cjk_name(text):
        chars = [c for c in text if not c.isspace() and c not in "·•．."]
        if len(chars) <= 1:
            return "*"
        if len(chars) == 2:
            return chars[0] + "*"
        return chars[0] + "*" * (len(chars) - 2) + chars[-1]
    words = [w for w in _SEPARATORS.split(text) if w]
    if not words:
        return "*"
    if len(words) == 1:
        return words[0][0].upper() + "*" if len(words[0]) > 1 else "*"
    return f"{words[0][0].upper()}* {words[-1][0].upper()}*"


def mask_phone(e164: str) -> str:
    """A phone number with only the last four digits shown: +86 *******0000."""
    digits = re.sub(r"\D", "", e164 or "")
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]
