"""Supervision (督办, 约谈, 审核): numbered orders and their timeline, interviews, report
reviews and "problems and needs" items.

Order numbers are per issuing office and year: `order_counters.next_number` is incremented with
`UPDATE ... RETURNING` in the transaction that inserts the order, and UNIQUE(issuer_unit_code,
year, number) backs it up, so numbers are gapless and never repeat. An interview's agreed
actions are rows of `orders` with kind "action" (no number): they remind and escalate the same
way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK, JsonType

ORDER = "order"
ACTION = "action"
ISSUED = "issued"
ACKNOWLEDGED = "acknowledged"
ANSWERED = "answered"
RETURNED = "returned"
CLOSED = "closed"
OPEN_STATES = (ISSUED, ACKNOWLEDGED, ANSWERED, RETURNED)

RECEIVED = "received"
ACCEPTED = "accepted"
SUPERSEDED = "superseded"
REVIEW_RETURNED = "returned"

PROBLEM_OPEN = "open"
PROBLEM_ANSWERED = "answered"


class OrderCounter(Base):
    """The next order number of one issuing office in one year."""

    __tablename__ = "order_counters"
    __table_args__ = (UniqueConstraint("unit_code", "year"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    year: Mapped[int] = mapped_column()
    next_number: Mapped[int] = mapped_column(default=1)


class Interview(Base):
    """An interview (约谈) of a lagging unit's head: who, when, and the agreed actions."""

    __tablename__ = "interviews"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    office_unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    who: Mapped[str] = mapped_column(String(200))
    held_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column()


class SupervisionOrder(Base):
    """A supervision order (督办) to a unit, or an interview's agreed action."""

    __tablename__ = "supervision_orders"
    __table_args__ = (
        UniqueConstraint("issuer_unit_code", "year", "number"),
        UniqueConstraint("origin_key"),
        Index("ix_supervision_orders_state", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16), default=ORDER)  # order | action
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    issuer_unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    issued_by: Mapped[int] = mapped_column(BigInteger)
    year: Mapped[int] = mapped_column()
    number: Mapped[int | None] = mapped_column()
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ISSUED)
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[int | None] = mapped_column(BigInteger)
    answered_at: Mapped[datetime | None] = mapped_column()
    answer_text: Mapped[str | None] = mapped_column(Text)
    answer_files: Mapped[list[Any] | None] = mapped_column(JsonType)
    closed_at: Mapped[datetime | None] = mapped_column()
    repeats: Mapped[int] = mapped_column(default=0)
    escalated_at: Mapped[datetime | None] = mapped_column()  # not acknowledged in time
    overdue_at: Mapped[datetime | None] = mapped_column()  # answer overdue, escalated
    origin: Mapped[str] = mapped_column(String(16), default="command")
    origin_key: Mapped[str | None] = mapped_column(String(128))
    interview_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("interviews.id"))


class OrderEvent(Base):
    """One step on an order's timeline: issued, repeated, acknowledged, escalated, answered..."""

    __tablename__ = "supervision_order_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("supervision_orders.id"),
                                          index=True)
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReportReview(Base):
    """The review (审核) of one submitted report version: received, accepted or returned."""

    __tablename__ = "report_reviews"
    __table_args__ = (UniqueConstraint("report_id"), Index("ix_report_reviews_state", "state"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("reports.id"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=RECEIVED)
    received_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[list[Any] | None] = mapped_column(JsonType)  # [{"key", "comment"}]


class ProblemItem(Base):
    """A "problems and needs" entry of a report, tracked for the parent office's answer."""

    __tablename__ = "problem_items"
    __table_args__ = (UniqueConstraint("report_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    report_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("reports.id"))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    office_unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=PROBLEM_OPEN)
    due_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column()
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    overdue_at: Mapped[datetime | None] = mapped_column()
