"""Every inline-button payload the bot sends, packed and parsed in one place.

A payload is a frozen dataclass: `pack()` gives the callback data (at most 64 bytes, Telegram's
limit) and `Cls.parse(data)` reads it back; anything that is not a valid payload of that class
raises `CallbackDataError` and nothing else, so a handler answers it as stale. The wire format
is the one the bot always used (`prefix:field:field`), so buttons already sent still work.
No aiogram import: services build keyboards with these too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

MAX_BYTES = 64
_MAX_INT_DIGITS = 18
P = TypeVar("P", bound="Payload")


class CallbackDataError(Exception):
    """Callback data that is not (or no longer) a valid payload: stale, foreign or damaged."""


def _fits(data: str) -> str:
    """`data` when it is valid UTF-8 of at most 64 bytes, else CallbackDataError."""
    try:
        size = len(data.encode())
    except UnicodeEncodeError:
        raise CallbackDataError("not valid UTF-8") from None
    if size > MAX_BYTES:
        raise CallbackDataError(f"{data[:20]!r}… is over {MAX_BYTES} bytes")
    return data


def _int(text: str) -> int:
    digits = text[1:] if text.startswith("-") else text
    if not digits or not digits.isascii() or not digits.isdigit() or len(digits) > _MAX_INT_DIGITS:
        raise CallbackDataError(f"not a number: {text[:20]!r}")
    return int(text)


@dataclass(frozen=True)
class Payload:
    """Base of every payload: `PREFIX`, then the fields joined by ':'."""

    PREFIX: ClassVar[str] = ""
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {}

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int) or (
                        len(str(abs(value))) > _MAX_INT_DIGITS):
                    raise CallbackDataError(f"{f.name}: not a small integer")
            elif not isinstance(value, str) or ":" in value:
                raise CallbackDataError(f"{f.name}: not a text without ':'")
            choices = self.CHOICES.get(f.name)
            if choices is not None and value not in choices:
                raise CallbackDataError(f"{f.name}: {str(value)[:20]!r} is not allowed")

    @classmethod
    def head(cls) -> str:
        """What every packed payload of this class starts with (for router filters)."""
        return cls.PREFIX + ":" if dataclasses.fields(cls) else cls.PREFIX

    def _parts(self) -> list[str]:
        return [str(getattr(self, f.name)) for f in dataclasses.fields(self)]

    def pack(self) -> str:
        """The callback data; refuses anything over 64 bytes."""
        return _fits(":".join([self.PREFIX, *self._parts()]))

    @classmethod
    def _build(cls: type[P], parts: list[str]) -> P:
        fields = dataclasses.fields(cls)
        if len(parts) != len(fields):
            raise CallbackDataError(f"{cls.__name__}: expected {len(fields)} fields")
        kwargs: dict[str, Any] = {}
        for f, part in zip(fields, parts, strict=True):
            kwargs[f.name] = _int(part) if f.type in ("int", int) else part
        return cls(**kwargs)

    @classmethod
    def parse(cls: type[P], data: str | None) -> P:
        """The payload in `data`, or CallbackDataError."""
        if not isinstance(data, str):
            raise CallbackDataError("no callback data")
        _fits(data)
        head = cls.head()
        if not data.startswith(head) or (head == cls.PREFIX and data != head):
            raise CallbackDataError(f"not a {cls.__name__} payload")
        rest = data[len(head):]
        return cls._build(rest.split(":") if dataclasses.fields(cls) else [])


# ------------------------------------------------------------------------------ /report

@dataclass(frozen=True)
class ReportAction(Payload):
    """A button of an open report: back, keep, skip, edit, resume, restart, confirm, nf,
    cancel."""

    PREFIX: ClassVar[str] = "rp"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"action": frozenset(
        {"back", "keep", "skip", "edit", "resume", "restart", "confirm", "nf", "cancel"})}
    action: str


@dataclass(frozen=True)
class ReportUnit(Payload):
    """A unit chosen for a report: g guided, q the waiting quick form, x the template,
    n a reminder's "report now" (guided). Packed as `rp<kind>:<unit>:<phase>`."""

    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"kind": frozenset("gqxn")}
    kind: str
    unit_code: str
    phase: str

    @classmethod
    def head(cls) -> str:
        """Payloads start with rpg, rpq, rpx or rpn; filter with `matches`."""
        return "rp"

    @classmethod
    def matches(cls, data: str | None) -> bool:
        """True when `data` looks like a unit choice (for router filters)."""
        return isinstance(data, str) and len(data) > 3 and data[:2] == "rp" and (
            data[2] in "gqxn" and data[3] == ":")

    def pack(self) -> str:
        """`rp<kind>:<unit>:<phase>`."""
        return _fits(f"rp{self.kind}:{self.unit_code}:{self.phase}")

    @classmethod
    def parse(cls, data: str | None) -> ReportUnit:
        """The unit choice in `data`, or CallbackDataError."""
        if not isinstance(data, str) or not cls.matches(data):
            raise CallbackDataError("not a unit choice")
        _fits(data)
        return cls._build([data[2], *data[4:].split(":")])


# ------------------------------------------------------------------------- everything else

@dataclass(frozen=True)
class Language(Payload):
    """The language chosen at /start or /language."""

    PREFIX: ClassVar[str] = "lang"
    locale: str


@dataclass(frozen=True)
class VerifyReport(Payload):
    """"Report this person" under a /verify verdict."""

    PREFIX: ClassVar[str] = "vrep"
    lookup_id: int


@dataclass(frozen=True)
class VerifyFlow(Payload):
    """A step of the impostor-report conversation."""

    PREFIX: ClassVar[str] = "vflow"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {
        "step": frozenset({"skip", "done", "cancel", "urgent"})}
    step: str


@dataclass(frozen=True)
class BulletinAction(Payload):
    """Publish, add a note to, or discard a bulletin draft."""

    PREFIX: ClassVar[str] = "bl"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"action": frozenset({"pub", "note", "del"})}
    action: str
    bulletin_id: int


@dataclass(frozen=True)
class Supervision(Payload):
    """An order, review or problem button: `action` then the object's id."""

    PREFIX: ClassVar[str] = "sv"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"action": frozenset(
        {"ack", "ans", "cls", "ret", "racc", "rret", "pans"})}
    action: str
    object_id: int


@dataclass(frozen=True)
class InterviewOffer(Payload):
    """"Schedule interview" for a unit."""

    PREFIX: ClassVar[str] = "sv:iv"
    unit_code: str


@dataclass(frozen=True)
class AnswerDone(Payload):
    """"Send answer" when an order's answer with files is complete."""

    PREFIX: ClassVar[str] = "sv:fdone"


@dataclass(frozen=True)
class NewOrder(Payload):
    """One tap on an escalation, behind-plan or returned-report notice issues an order."""

    PREFIX: ClassVar[str] = "sv:new"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"reason": frozenset({"late", "lag", "rev"})}
    reason: str
    unit_code: str
    ref: str


@dataclass(frozen=True)
class DeskReply(Payload):
    """"Answer" on a question forwarded to the desk."""

    PREFIX: ClassVar[str] = "desk:ans"
    exchange_id: int


@dataclass(frozen=True)
class DeskCandidate(Payload):
    """"FAQ candidate" on a question forwarded to the desk."""

    PREFIX: ClassVar[str] = "desk:cand"
    exchange_id: int


@dataclass(frozen=True)
class ImpostorHandled(Payload):
    """An impostor report marked handled."""

    PREFIX: ClassVar[str] = "imp:done"
    report_id: int


@dataclass(frozen=True)
class StaffConfirm(Payload):
    """Confirm a staff change prepared under a one-time nonce."""

    PREFIX: ClassVar[str] = "stfok"
    nonce: str


@dataclass(frozen=True)
class StaffCancel(Payload):
    """Cancel a staff change prepared under a one-time nonce."""

    PREFIX: ClassVar[str] = "stfno"
    nonce: str


@dataclass(frozen=True)
class FaqVote(Payload):
    """👍 / 👎 on an answer."""

    PREFIX: ClassVar[str] = "faq:v"
    CHOICES: ClassVar[dict[str, frozenset[str]]] = {"helpful": frozenset({"0", "1"})}
    question_id: int
    helpful: str
    topic: str


@dataclass(frozen=True)
class FaqAlternative(Payload):
    """Another entry offered for a question."""

    PREFIX: ClassVar[str] = "faq:a"
    question_id: int
    entry_id: str


@dataclass(frozen=True)
class FaqOthers(Payload):
    """"Other questions" for a question."""

    PREFIX: ClassVar[str] = "faq:o"
    question_id: int


@dataclass(frozen=True)
class FaqHuman(Payload):
    """"Ask a person" for a question."""

    PREFIX: ClassVar[str] = "faq:h"
    question_id: int


ALL: tuple[type[Payload], ...] = (
    ReportAction, ReportUnit, Language, VerifyReport, VerifyFlow, BulletinAction, Supervision,
    InterviewOffer, AnswerDone, NewOrder, DeskReply, DeskCandidate, ImpostorHandled, StaffConfirm,
    StaffCancel, FaqVote, FaqAlternative, FaqOthers, FaqHuman)


def parse_any(data: str | None, kinds: Iterable[type[Payload]] = ALL) -> Payload:
    """The first of `kinds` that `data` parses as, or CallbackDataError."""
    for kind in kinds:
        try:
            return kind.parse(data)
        except CallbackDataError:
            continue
    raise CallbackDataError("not a payload of this bot")
