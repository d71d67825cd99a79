"""Progress reports (调度表): submitted versions, drafts in progress, imported targets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK, JsonType


class Report(Base):
    """One version of a unit's report for one period; a correction adds the next version."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("unit_code", "phase", "period_start", "version"),
        Index("ix_reports_unit_phase_period", "unit_code", "phase", "period_start"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    phase: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    deadline: Mapped[datetime] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    source: Mapped[str] = mapped_column(String(16))  # guided | quick | xlsx
    reason: Mapped[str | None] = mapped_column(Text)  # why a cumulative value went down
    # newly found objects (新增) per target key, when a count went above its target
    new_found: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    submitted_by: Mapped[int] = mapped_column(BigInteger)
    submitted_at: Mapped[datetime] = mapped_column(index=True)


class ReportDraft(Base):
    """A report being entered: kept in the database so that a restart loses nothing."""

    __tablename__ = "report_drafts"
    __table_args__ = (UniqueConstraint("user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    unit_code: Mapped[str | None] = mapped_column(ForeignKey("units.code"))
    phase: Mapped[str] = mapped_column(String(32))
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cursor: Mapped[int] = mapped_column(default=0)  # index of the field being asked
    stage: Mapped[str] = mapped_column(String(16), default="fields")  # fields|reason|confirm
    source: Mapped[str] = mapped_column(String(16), default="guided")
    reason: Mapped[str | None] = mapped_column(Text)
    new_found: Mapped[dict[str, Any] | None] = mapped_column(JsonType)  # 新增 per target key
    created_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class ReportTarget(Base):
    """A target of one unit for one phase and target key (e.g. survey/industrial = 820)."""

    __tablename__ = "report_targets"
    __table_args__ = (UniqueConstraint("unit_code", "phase", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    phase: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column()


class ReportTargetChange(Base):
    """History of a target changed in chat: who, when, old value and new value."""

    __tablename__ = "report_target_changes"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    phase: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    old_value: Mapped[float | None] = mapped_column(Float)
    new_value: Mapped[float] = mapped_column(Float)
    changed_by: Mapped[int] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column()


class NoticeSubscription(Base):
    """An office head's opt-in to a kind of notice (e.g. `first_submission`)."""

    __tablename__ = "notice_subscriptions"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column()
