"""Split Telegram HTML into messages within the 4,096-character limit, never breaking markup.

Length is what Telegram counts: the visible text after entity parsing, in UTF-16 code units.
Splits fall at a paragraph break if possible, else a line break, else a space, else anywhere
between two characters (never inside a tag or an entity such as ``&amp;``). Tags open at a
split are closed at the end of one part and re-opened at the start of the next.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

TELEGRAM_TEXT_LIMIT = 4096
TELEGRAM_CAPTION_LIMIT = 1024

_TOKEN = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|.",
                    re.DOTALL)


@dataclass(frozen=True)
class _Tok:
    raw: str
    width: int  # visible UTF-16 units (0 for tags)
    kind: str  # "open" | "close" | "text"
    name: str = ""


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN.finditer(text):
        if m.group(2) is not None:
            name = m.group(2).lower()
            out.append(_Tok(m.group(0), 0, "close" if m.group(1) else "open", name))
        elif m.group(4) is not None:
            out.append(_Tok(m.group(0), _utf16(html.unescape(m.group(0))), "text"))
        else:
            out.append(_Tok(m.group(0), _utf16(m.group(0)), "text"))
    return out


def visible_length(text: str) -> int:
    """How long Telegram will count this HTML text (tags removed, entities decoded, UTF-16)."""
    return sum(t.width for t in _tokens(text))


def _break_at(toks: list[_Tok], start: int, end: int) -> tuple[int, int]:
    """Best cut in toks[start:end]: (end of this part, start of the next) by preference."""
    for sep in ("\n\n", "\n", " "):
        n = len(sep)
        for i in range(end - n, start, -1):
            if "".join(t.raw for t in toks[i:i + n]) == sep:
                return i, i + n
    return end, end


def _cost(tok: _Tok) -> int:
    """What a token uses of the budget: raw characters, or visible UTF-16 units if more."""
    return max(len(tok.raw), tok.width)


def _apply(stack: list[_Tok], toks: list[_Tok]) -> list[_Tok]:
    out = list(stack)
    for t in toks:
        if t.kind == "open":
            out.append(t)
        elif t.kind == "close":
            for k in range(len(out) - 1, -1, -1):
                if out[k].name == t.name:
                    del out[k]
                    break
    return out


def _closing(stack: list[_Tok]) -> str:
    return "".join(f"</{t.name}>" for t in reversed(stack))


def split_html(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split HTML text into parts within `limit`, markup kept valid in every part.

    A part fits when both its raw length (markup included, as strict servers count) and its
    visible length in UTF-16 units (what Telegram counts) are within `limit`.
    """
    if limit < 64:
        raise ValueError("limit too small")
    toks = _tokens(text)
    if len(text) <= limit and sum(t.width for t in toks) <= limit:
        return [text]
    parts: list[str] = []
    stack: list[_Tok] = []  # open tags at the current position
    i = 0
    while i < len(toks):
        budget = limit
        while True:
            chunk, nxt, after = _part(toks, i, stack, budget)
            over = max(len(chunk), visible_length(chunk)) - limit
            if over <= 0:
                break
            budget -= over
        if _has_text(chunk):
            parts.append(chunk)
        stack = after
        i = nxt
    return parts


def _part(toks: list[_Tok], i: int, stack: list[_Tok], budget: int) -> tuple[str, int, list[_Tok]]:
    """The part starting at token i: (its HTML, index of the next part, open tags after it)."""
    reopen = "".join(t.raw for t in stack)
    width = len(reopen) + len(_closing(stack))
    j = i
    while j < len(toks) and width + _cost(toks[j]) <= budget:
        width += _cost(toks[j])
        j += 1
    if j >= len(toks):
        cut, nxt = len(toks), len(toks)
    else:
        cut, nxt = _break_at(toks, i, j)
        if cut <= i:
            cut, nxt = max(j, i + 1), max(j, i + 1)
    at_cut = _apply(stack, toks[i:cut])
    chunk = reopen + "".join(t.raw for t in toks[i:cut]) + _closing(at_cut)
    return chunk, nxt, _apply(stack, toks[i:nxt])


def _has_text(chunk: str) -> bool:
    return any(t.kind == "text" and t.raw.strip() for t in _tokens(chunk))
