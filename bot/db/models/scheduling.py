"""Scheduling records: job runs per period, late/lag marks, escalations, and leases."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

LATE = "late"  # did not report by the deadline
LAG = "lag"  # completion rate behind the plan curve


class JobRun(Base):
    """A finished run of a scheduled job for one period: 'ran once' is decided here."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "period_key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(100))  # e.g. "escalations@18:00"
    period_key: Mapped[str] = mapped_column(String(64))  # e.g. "2018-10-08"
    scheduled_for: Mapped[datetime] = mapped_column()
    ran_at: Mapped[datetime] = mapped_column()
    enqueued: Mapped[int] = mapped_column(default=0)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class LateMark(Base):
    """A unit named late (or lagging) for a period; the bulletin lists these."""

    __tablename__ = "late_marks"
    __table_args__ = (
        UniqueConstraint("unit_code", "phase", "period_end", "kind"),
        Index("ix_late_marks_kind_deadline", "kind", "deadline"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    phase: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    deadline: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(8))  # late | lag
    marked_at: Mapped[datetime] = mapped_column()
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # rate, plan, gap...
    bulletin_id: Mapped[int | None] = mapped_column(BigInteger)  # set when a bulletin names it


class Escalation(Base):
    """One rung of the ladder taken for a unit and period (what was escalated, to whom)."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("unit_code", "phase", "period_end", "step"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(String(32), index=True)
    phase: Mapped[str] = mapped_column(String(64))
    period_end: Mapped[date] = mapped_column()
    step: Mapped[str] = mapped_column(String(32))  # deadline | parent | bulletin | summons | lag
    at: Mapped[datetime] = mapped_column()
    recipients: Mapped[int] = mapped_column(default=0)


class Lease(Base):
    """A named lease held by one process (sender, scheduler) until it expires."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()
