"""Numbered situation bulletins (通报): series with their own counter, and the bulletins.

Numbers are assigned at publication, in the same transaction that publishes: the series row's
`next_number` is incremented with `UPDATE ... RETURNING` (a row lock on PostgreSQL, the write
lock on SQLite), and UNIQUE(series_id, number) backs it up. A discarded draft never had a
number, and a crash before the commit rolls the counter back, so numbers stay gapless.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

DRAFT = "draft"
PUBLISHED = "published"
DISCARDED = "discarded"


class BulletinSeries(Base):
    """A series of bulletins (e.g. 入户调查情况通报) and its number counter."""

    __tablename__ = "bulletin_series"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    root_code: Mapped[str] = mapped_column(ForeignKey("units.code"))
    phase: Mapped[str] = mapped_column(String(64))
    next_number: Mapped[int] = mapped_column(default=1)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # cadence, chats, approvers...
    updated_at: Mapped[datetime] = mapped_column()


class Bulletin(Base):
    """One bulletin: a draft (no number yet), then published (numbered, immutable) or discarded.

    `revision` is 0 for a period's bulletin and k for its k-th correction; a discarded draft
    has `revision` NULL so that it frees its place: UNIQUE(series_id, period_start, revision)
    gives one live bulletin per series and period.
    """

    __tablename__ = "bulletins"
    __table_args__ = (
        UniqueConstraint("series_id", "number"),
        UniqueConstraint("series_id", "period_start", "revision"),
        Index("ix_bulletins_series_state", "series_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    series_id: Mapped[str] = mapped_column(ForeignKey("bulletin_series.id"))
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    revision: Mapped[int | None] = mapped_column()
    number: Mapped[int | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default=DRAFT)
    corrects_number: Mapped[int | None] = mapped_column()
    correction_reason: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column()  # the BulletinData snapshot
    note: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(16), default="schedule")  # schedule | demand
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    published_at: Mapped[datetime | None] = mapped_column()
    published_by: Mapped[int | None] = mapped_column(BigInteger)
    discarded_at: Mapped[datetime | None] = mapped_column()
    discarded_by: Mapped[int | None] = mapped_column(BigInteger)
