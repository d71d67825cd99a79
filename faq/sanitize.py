"""Untrusted text made safe for search and embedding: NFKC, no control or format characters,
no floods of combining marks, bounded length.

Every text from a user passes through `clean_text` before it reaches the FAQ index, the
embedding worker or the native embedding engine. The function is idempotent and never raises
on any str.
"""

from __future__ import annotations

import unicodedata

MAX_TEXT_CHARS = 500  # a question longer than this is not a question; the rest is dropped
MAX_MARKS = 2  # combining marks kept after one base character (zalgo collapses to this)
# Raw input is cut before NFKC: one character expands to at most 18 (U+FDFA), so the cut
# leaves enough for the bound after normalisation while keeping NFKC's own cost bounded.
_RAW_FACTOR = 4
_SPACES = frozenset("\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\u2028\u2029")


def _keep(ch: str, cat: str) -> str:
    """The character as kept: control/format/private/unassigned characters drop, any other
    separator becomes a plain space."""
    if ch in _SPACES or cat in ("Zs", "Zl", "Zp"):
        return " "
    if cat[0] == "C":  # Cc control, Cf format (RTL overrides, zero-width), Cs, Co, Cn
        return ""
    return ch


def clean_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Normalised, bounded text safe to search or embed (see module docstring)."""
    if not isinstance(text, str):  # defensive: callers pass what a user sent
        text = str(text)
    result = _clean_once(text[: max_chars * _RAW_FACTOR], max_chars)
    for _ in range(3):  # removing a character or cutting can enable a new NFKC composition
        again = _clean_once(result, max_chars)
        if again == result:
            break
        result = again
    return result


def _clean_once(raw: str, max_chars: int) -> str:
    """One pass of normalise, filter, collapse and cut."""
    raw = raw.encode("utf-8", "replace").decode("utf-8")  # lone surrogates become "?"
    out: list[str] = []
    marks = 0
    for ch in unicodedata.normalize("NFKC", raw):
        cat = unicodedata.category(ch)
        if cat[0] == "M":
            marks += 1
            if marks > MAX_MARKS or not out or out[-1] == " ":
                continue
            out.append(ch)
            continue
        kept = _keep(ch, cat)
        if not kept:
            continue
        marks = 0
        if kept == " " and (not out or out[-1] == " "):
            continue
        out.append(kept)
    return "".join(out[:max_chars]).strip()
