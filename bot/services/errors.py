"""Domain errors that carry a translatable, user-facing message."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule the user or operator broke; `message` is a gettext msgid, `params` fill it in."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params

    def render(self, gettext: Any) -> str:
        """The message in the caller's language."""
        text: str = gettext(self.message)
        return text % self.params if self.params else text
