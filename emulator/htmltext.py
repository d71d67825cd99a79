"""Telegram HTML parse_mode: validation (like the server) and plain-text extraction."""

from __future__ import annotations

import html
import re

from emulator.errors import bad_request

ALLOWED_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
        "tg-spoiler", "span", "blockquote", "tg-emoji",
    }
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>")


def validate_html(text: str) -> None:
    """Raise 400 "can't parse entities" for tags Telegram would reject or leave unbalanced."""
    stack: list[str] = []
    pos = 0
    for match in _TAG.finditer(text):
        stray = text.find("<", pos, match.start())
        if stray != -1:
            _fail_stray(text, stray)
        closing, name = match.group(1) == "/", match.group(2).lower()
        offset = len(text[: match.start()].encode())
        if name not in ALLOWED_TAGS:
            kind = "end" if closing else "start"
            raise bad_request(
                f'can\'t parse entities: Unsupported {kind} tag "{name}" at byte offset {offset}'
            )
        if not closing:
            stack.append(name)
        elif not stack or stack[-1] != name:
            raise bad_request(
                f'can\'t parse entities: Unexpected end tag at byte offset {offset}'
            )
        else:
            stack.pop()
        pos = match.end()
    stray = text.find("<", pos)
    if stray != -1:
        _fail_stray(text, stray)
    if stack:
        raise bad_request(
            f'can\'t parse entities: Can\'t find end tag corresponding to start tag "{stack[-1]}"'
        )


def _fail_stray(text: str, index: int) -> None:
    offset = len(text[:index].encode())
    raise bad_request(f'can\'t parse entities: Unsupported start tag "" at byte offset {offset}')


def plain_text(text: str) -> str:
    """Return what a client shows for HTML text: tags removed, entities decoded."""
    return html.unescape(_TAG.sub("", text))
