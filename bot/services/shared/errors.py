"""Domain errors that carry a translatable, user-facing message."""

from __future__ import annotations

import html
from typing import Any


class DomainError(Exception):
    """A rule the user or operator broke; `message` is a gettext msgid, `params` fill it in.

    `retry`: the user can correct the text and send it again (empty, too long, a field not
    named), so a conversation waiting for that text goes on. `gone`: what was acted on is no
    longer open (already answered, published, deleted), so its buttons can come off.
    """

    def __init__(self, message: str, *, retry: bool = False, gone: bool = False,
                 **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params
        self.retry = retry
        self.gone = gone

    def render(self, gettext: Any, *, escape: bool = True) -> str:
        """The message in the caller's language, ready for a Telegram HTML message: text the
        user gave (a unit code, a word, a cell) is HTML-escaped unless `escape` is False."""
        text: str = gettext(self.message)
        if not self.params:
            return text
        params = {k: html.escape(v, quote=False) if escape and isinstance(v, str) else v
                  for k, v in self.params.items()}
        return text % params
