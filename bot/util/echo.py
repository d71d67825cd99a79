"""What the user typed, as a reply may quote it: HTML-escaped and cut to a readable length."""

from __future__ import annotations

import html


def shown(word: str, limit: int = 40) -> str:
    """`word` escaped for a Telegram HTML message, long words cut with an ellipsis."""
    word = word.strip()
    cut = word if len(word) <= limit else word[:limit] + "…"
    return html.escape(cut, quote=False)
