"""FAQ curation data: questions asked, feedback votes, Q&A desk exchanges, candidate entries."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

OUTCOME_ANSWERED = "answered"  # confident answer shown
OUTCOME_UNSURE = "unsure"  # alternatives offered
OUTCOME_UNKNOWN = "unknown"  # nothing fitted

EXCHANGE_OPEN = "open"
EXCHANGE_ANSWERED = "answered"


class FaqQuestion(Base):
    """One free-text question put to the FAQ, with what the engine made of it."""

    __tablename__ = "faq_questions"
    __table_args__ = (Index("ix_faq_questions_outcome_at", "outcome", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    locale: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    topic: Mapped[str | None] = mapped_column(String(64), index=True)  # answered topic
    best_topic: Mapped[str | None] = mapped_column(String(64))  # best ranked, even if unsure
    score: Mapped[float] = mapped_column(Float, default=0.0)
    confident: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str] = mapped_column(String(16))
    via: Mapped[str] = mapped_column(String(16), default="chat")  # chat | inline
    created_at: Mapped[datetime] = mapped_column()


class FaqFeedback(Base):
    """A "helpful?" vote on an answer shown for a question (one per question and user)."""

    __tablename__ = "faq_feedback"
    __table_args__ = (UniqueConstraint("question_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("faq_questions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    helpful: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class DeskExchange(Base):
    """A question forwarded to a unit's Q&A desk and, once given, the desk's answer."""

    __tablename__ = "faq_desk_exchanges"
    __table_args__ = (Index("ix_faq_desk_exchanges_status_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("faq_questions.id", ondelete="SET NULL"), unique=True
    )
    asker_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    asker_chat_id: Mapped[int] = mapped_column(BigInteger)
    asker_locale: Mapped[str] = mapped_column(String(8))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=EXCHANGE_OPEN)
    answer_text: Mapped[str | None] = mapped_column(Text)
    answered_by: Mapped[int | None] = mapped_column(BigInteger)
    answered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class FaqCandidate(Base):
    """A desk exchange a desk member marked as worth a new FAQ entry (exported for curation)."""

    __tablename__ = "faq_candidates"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    exchange_id: Mapped[int] = mapped_column(
        ForeignKey("faq_desk_exchanges.id", ondelete="CASCADE"), unique=True
    )
    marked_by: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column()
    exported_at: Mapped[datetime | None] = mapped_column()
