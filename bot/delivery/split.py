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


def split_html(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Split HTML text into parts of at most `limit` visible characters, markup kept valid."""
    if limit < 16:
        raise ValueError("limit too small")
    toks = _tokens(text)
    if sum(t.width for t in toks) <= limit:
        return [text]
    parts: list[str] = []
    stack: list[_Tok] = []  # open tags at the current position
    i = 0
    while i < len(toks):
        reopen = list(stack)
        width = 0
        j = i
        while j < len(toks) and width + toks[j].width <= limit:
            width += toks[j].width
            j += 1
        if j >= len(toks):
            cut, nxt = len(toks), len(toks)
        else:
            cut, nxt = _break_at(toks, i, j)
            if cut <= i:  # nothing fits before a break: take what fits
                cut, nxt = j, j
        body = toks[i:cut]
        for t in toks[i:nxt]:
            if t.kind == "open":
                stack.append(t)
            elif t.kind == "close":
                for k in range(len(stack) - 1, -1, -1):
                    if stack[k].name == t.name:
                        del stack[k]
                        break
        # tags open at `cut` (before the separator) are the ones to close here
        open_at_cut = list(reopen)
        for t in body:
            if t.kind == "open":
                open_at_cut.append(t)
            elif t.kind == "close":
                for k in range(len(open_at_cut) - 1, -1, -1):
                    if open_at_cut[k].name == t.name:
                        del open_at_cut[k]
                        break
        chunk = "".join(t.raw for t in reopen) + "".join(t.raw for t in body)
        chunk += "".join(f"</{t.name}>" for t in reversed(open_at_cut))
        if _has_text(chunk):
            parts.append(chunk)
        i = nxt
    return parts


def _has_text(chunk: str) -> bool:
    return any(t.kind == "text" and t.raw.strip() for t in _tokens(chunk))
