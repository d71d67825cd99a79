"""Domain errors that carry a translatable, user-facing message."""

from __future__ import annotations

import html
from typing import Any


class DomainError(Exception):
    """A rule the user or operator broke; `message` is a gettext msgid, `params` fill it in."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    def render(self, gettext: Any, *, escape: bool = True) -> str:
        """The message in the caller's language, ready for a Telegram HTML message: text the
        user gave (a unit code, a word, a cell) is HTML-escaped unless `escape` is False."""
        text: str = gettext(self.message)
        if not self.params:
            return text
        params = {k: html.escape(v, quote=False) if escape and isinstance(v, str) else v
                  for k, v in self.params.items()}
        return text % params
