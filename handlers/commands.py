"""Command descriptions for /help and the Telegram command menu."""

from __future__ import annotations

from dataclasses import dataclass


def N_(message: str) -> str:
    """Mark a string for translation without translating it now."""
    return message


@dataclass(frozen=True)
class CommandInfo:
    """A chat command, who may use it (None = everyone) and its translatable description."""

    command: str
    description: str
    roles: frozenset[str] | None = None
    args: str = ""
