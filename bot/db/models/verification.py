"""Identity verification: public lookups, one-time binding codes and impostor reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

# Results of a lookup (public ID lookup or badge scan).
GENUINE = "genuine"
SUSPENDED = "suspended"
REVOKED = "revoked"
EXPIRED = "expired"
UNKNOWN = "unknown"
FORGED = "forged"  # a badge token whose signature does not verify
REFUSED = "refused"  # over the rate limit: not looked up at all
LOOKUP_RESULTS = (GENUINE, SUSPENDED, REVOKED, EXPIRED, UNKNOWN, FORGED, REFUSED)
FAILED_RESULTS = frozenset({SUSPENDED, REVOKED, EXPIRED, UNKNOWN, FORGED})

REPORT_OPEN = "open"
REPORT_HANDLED = "handled"


class StaffLookup(Base):
    """One verification attempt: who asked, what they typed, what they were told, when.

    This table is the lookup audit trail and the source of the per-user rate limit, so the
    limit holds across restarts and processes.
    """

    __tablename__ = "staff_lookups"
    __table_args__ = (Index("ix_staff_lookups_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(String(8))  # id | badge
    query: Mapped[str] = mapped_column(String(80))  # the ID as typed (normalised, truncated)
    staff_id: Mapped[str | None] = mapped_column(String(64))  # the record found, if any
    unit_code: Mapped[str | None] = mapped_column(String(32), index=True)
    result: Mapped[str] = mapped_column(String(16))


class BindingCode(Base):
    """A one-time code that binds a chat account to a staff record; only its hash is kept."""

    __tablename__ = "binding_codes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[str] = mapped_column(
        ForeignKey("staff.staff_id", ondelete="CASCADE"), index=True
    )
    issued_by: Mapped[int | None] = mapped_column(BigInteger)  # None = CLI/operator
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    used_by: Mapped[int | None] = mapped_column(BigInteger)
    revoked_at: Mapped[datetime | None] = mapped_column()  # superseded by a newer code


class BindingAttempt(Base):
    """A binding-code attempt by a chat user (wrong ones count towards the lockout)."""

    __tablename__ = "binding_attempts"
    __table_args__ = (Index("ix_binding_attempts_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column()
    success: Mapped[bool] = mapped_column(default=False)


class ImpostorReport(Base):
    """A report by a member of the public about someone claiming to be census staff."""

    __tablename__ = "impostor_reports"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    reporter_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    reporter_chat_id: Mapped[int] = mapped_column(BigInteger)
    lookup_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_lookups.id", ondelete="SET NULL")
    )
    claimed_id: Mapped[str] = mapped_column(String(80))
    lookup_result: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[str | None] = mapped_column(String(64))
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"), index=True)
    text: Mapped[str] = mapped_column(Text)
    photo_file_id: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default=REPORT_OPEN, index=True)
    handled_by: Mapped[int | None] = mapped_column(BigInteger)
    handled_at: Mapped[datetime | None] = mapped_column()
    urgent: Mapped[bool] = mapped_column(default=False)  # the reporter asked to wake the office
    duplicates: Mapped[int] = mapped_column(default=0)  # later reports merged into this one


class RateCounter(Base):
    """A fixed-window counter (two windows per key), bumped atomically in one statement.

    Keys: ``u:<user id>`` (a user's lookups per minute and per day), ``p:<id prefix>`` (lookups
    of one office's IDs by anyone in a scan window), ``i:...`` (impostor reports).
    """

    __tablename__ = "rate_counters"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    a_window: Mapped[int] = mapped_column(BigInteger)
    a_count: Mapped[int] = mapped_column()
    b_window: Mapped[int] = mapped_column(BigInteger)
    b_count: Mapped[int] = mapped_column()
    ok: Mapped[bool] = mapped_column()  # whether the last bump was within both limits
