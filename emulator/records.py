"""Plain records kept by the emulator: stored messages, files, logs."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class SentRecord(NamedTuple):
    """One successful bot send (exactly-once and rate checks use these)."""

    method: str
    chat_id: int
    message_id: int
    text: str | None
    at: float


class RequestRecord(NamedTuple):
    """One Bot API request as answered by the emulator (`at`), received at `received`."""

    method: str
    status: int
    at: float
    chat_id: int | None
    received: float = 0.0


@dataclass
class FileRecord:
    """An uploaded or sent file kept in memory."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    mime_type: str
    file_name: str | None = None

    def as_file(self) -> dict[str, Any]:
        """Return the Telegram ``File`` object for getFile."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
            "file_path": self.file_path,
        }


@dataclass
class StoredMessage:
    """A message in a chat's history; ``data`` is the Telegram JSON (raw HTML text)."""

    data: dict[str, Any]
    from_bot: bool
    rev: int
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)
    deleted: bool = False

    @property
    def message_id(self) -> int:
        """Return the message id."""
        return int(self.data["message_id"])

    def view(self) -> dict[str, Any]:
        """Return a detached dict for tests/web page: Telegram fields plus emulator extras."""
        out = copy.deepcopy(self.data)
        if self.reply_markup is not None:
            out["reply_markup"] = copy.deepcopy(self.reply_markup)
        out["parse_mode"] = self.parse_mode
        out["from_bot"] = self.from_bot
        out["edited"] = copy.deepcopy(self.edits)
        out["deleted"] = self.deleted
        out["rev"] = self.rev
        return out
