"""FAQ curation data: record questions and votes; report weak entries; export candidates."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.faq import (
    OUTCOME_ANSWERED,
    OUTCOME_UNKNOWN,
    OUTCOME_UNSURE,
    DeskExchange,
    FaqCandidate,
    FaqFeedback,
    FaqQuestion,
)
from bot.db.upsert import insert_ignore
from bot.services.faqdesk import clusters as faq_clusters
from bot.services.shared.errors import DomainError

MAX_QUESTION_CHARS = 1000


@dataclass(frozen=True)
class Asked:
    """What the engine made of a question, as the service stores it."""

    topic: str | None
    best_topic: str | None
    score: float
    confident: bool
    unsure: bool


def outcome_of(asked: Asked) -> str:
    """answered / unsure / unknown."""
    if asked.confident and asked.topic:
        return OUTCOME_ANSWERED
    return OUTCOME_UNSURE if asked.unsure else OUTCOME_UNKNOWN


async def record_question(
    session: AsyncSession,
    *,
    now: datetime,
    user_id: int | None,
    chat_id: int | None,
    locale: str,
    text: str,
    asked: Asked,
    via: str = "chat",
) -> int:
    """Store a question and the engine's verdict; return the question id (the caller commits)."""
    row = FaqQuestion(
        user_id=user_id, chat_id=chat_id, locale=locale, text=text[:MAX_QUESTION_CHARS],
        topic=asked.topic if asked.confident else None, best_topic=asked.best_topic,
        score=float(asked.score), confident=asked.confident, outcome=outcome_of(asked),
        via=via, created_at=now,
    )
    session.add(row)
    await session.flush()
    return row.id


async def question_for(session: AsyncSession, question_id: int, user_id: int) -> FaqQuestion:
    """The question `user_id` asked, or a DomainError (someone else's, or gone)."""
    row = await session.get(FaqQuestion, question_id)
    if row is None or row.user_id != user_id:
        raise DomainError("This question is no longer available; please ask again.")
    return row


async def record_vote(
    session: AsyncSession, *, now: datetime, question_id: int, user_id: int, topic: str,
    helpful: bool,
) -> bool:
    """Store a helpful/not helpful vote once per question and user; False if already voted."""
    await question_for(session, question_id, user_id)
    added = await insert_ignore(
        session, FaqFeedback,
        [{"question_id": question_id, "user_id": user_id, "topic": topic, "helpful": helpful,
          "created_at": now}],
        ["question_id", "user_id"],
    )
    await session.flush()
    return added > 0


@dataclass(frozen=True)
class TopicFeedback:
    """Votes on one FAQ entry."""

    topic: str
    helpful: int
    unhelpful: int

    @property
    def share_unhelpful(self) -> float:
        """Share of votes saying the answer did not help."""
        total = self.helpful + self.unhelpful
        return self.unhelpful / total if total else 0.0


@dataclass(frozen=True)
class FrequentQuestion:
    """A gap: questions asked without a confident answer, the same question in different
    words grouped together (`text` is the most-asked wording, `count` all askings)."""

    text: str
    count: int
    outcome: str
    best_topic: str | None
    variants: int = 1  # distinct wordings in the group
    examples: tuple[str, ...] = ()  # other wordings, most asked first (at most three)


@dataclass(frozen=True)
class Report:
    """What curators look at: weakest entries and the questions the FAQ did not answer."""

    since: datetime | None
    asked: int
    answered: int
    unsure: int
    unknown: int
    weakest: list[TopicFeedback]
    unanswered: list[FrequentQuestion]
    escalated: int
    open_exchanges: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "asked": self.asked, "answered": self.answered, "unsure": self.unsure,
            "unknown": self.unknown, "escalated": self.escalated,
            "open_exchanges": self.open_exchanges,
            "weakest": [{"topic": t.topic, "helpful": t.helpful, "unhelpful": t.unhelpful}
                        for t in self.weakest],
            "unanswered": [{"text": q.text, "count": q.count, "outcome": q.outcome,
                            "best_topic": q.best_topic, "variants": q.variants,
                            "examples": list(q.examples)} for q in self.unanswered],
        }


async def report(
    session: AsyncSession, *, since: datetime | None = None, limit: int = 10
) -> Report:
    """Weakest entries by feedback and the most-asked gaps: unanswered/low-confidence
    questions grouped by meaning (see faq_clusters), most asked first."""
    q = select(FaqQuestion.outcome, func.count()).group_by(FaqQuestion.outcome)
    if since is not None:
        q = q.where(FaqQuestion.created_at >= since)
    by_outcome = {o: n for o, n in (await session.execute(q)).all()}
    fb = select(FaqFeedback.topic, FaqFeedback.helpful, func.count()).group_by(
        FaqFeedback.topic, FaqFeedback.helpful)
    if since is not None:
        fb = fb.where(FaqFeedback.created_at >= since)
    votes: dict[str, list[int]] = {}
    for topic, helpful, n in (await session.execute(fb)).all():
        votes.setdefault(topic, [0, 0])[0 if helpful else 1] += n
    weakest = sorted(
        (TopicFeedback(t, h, u) for t, (h, u) in votes.items() if u),
        key=lambda t: (-t.share_unhelpful, -t.unhelpful, t.topic),
    )[:limit]
    uq = select(FaqQuestion.text, FaqQuestion.outcome, FaqQuestion.best_topic).where(
        FaqQuestion.outcome != OUTCOME_ANSWERED)
    if since is not None:
        uq = uq.where(FaqQuestion.created_at >= since)
    rows = (await session.execute(uq.order_by(FaqQuestion.id))).all()
    outcomes: dict[str, Counter[str]] = {}
    for text, outcome, _best in rows:
        outcomes.setdefault(text, Counter())[outcome] += 1
    unanswered = []
    for c in faq_clusters.cluster((text, best) for text, _outcome, best in rows)[:limit]:
        summary: Counter[str] = Counter()
        for text in c.texts:
            summary.update(outcomes[text])
        examples = tuple(t for t, _n in sorted(c.texts.items(), key=lambda kv: (-kv[1], kv[0]))
                         if t != c.text)[:3]
        unanswered.append(FrequentQuestion(
            c.text, c.count, min(summary.items(), key=lambda kv: (-kv[1], kv[0]))[0],
            c.best_topic, variants=len(c.texts), examples=examples))
    ex = select(DeskExchange.status, func.count()).group_by(DeskExchange.status)
    if since is not None:
        ex = ex.where(DeskExchange.created_at >= since)
    exchanges = {s: n for s, n in (await session.execute(ex)).all()}
    return Report(
        since=since,
        asked=sum(by_outcome.values()),
        answered=by_outcome.get(OUTCOME_ANSWERED, 0),
        unsure=by_outcome.get(OUTCOME_UNSURE, 0),
        unknown=by_outcome.get(OUTCOME_UNKNOWN, 0),
        weakest=weakest,
        unanswered=unanswered,
        escalated=sum(exchanges.values()),
        open_exchanges=exchanges.get("open", 0),
    )


async def export_candidates(
    session: AsyncSession, *, now: datetime, include_exported: bool = False, mark: bool = True
) -> list[dict[str, Any]]:
    """Candidate entries in the FAQ file format (an `entries` list item each), for curation.

    Marks them exported (unless `mark` is False) so that the next export lists new ones only.
    """
    stmt = (
        select(FaqCandidate, DeskExchange)
        .join(DeskExchange, DeskExchange.id == FaqCandidate.exchange_id)
        .order_by(FaqCandidate.id)
    )
    if not include_exported:
        stmt = stmt.where(FaqCandidate.exported_at.is_(None))
    out: list[dict[str, Any]] = []
    for cand, exchange in (await session.execute(stmt)).all():
        lang = "en" if exchange.asker_locale.startswith("en") else "zh"
        other = "zh" if lang == "en" else "en"
        out.append({
            "id": f"candidate_{cand.id}",
            "category": "candidate",
            "question": {lang: exchange.text, other: ""},
            "answer": {lang: exchange.answer_text or "", other: ""},
            "phrasings": {lang: [exchange.text]},
            "keywords": [],
            "source_exchange": exchange.id,
            "unit": exchange.unit_code,
        })
        if mark:
            cand.exported_at = now
    if mark:
        await session.flush()
    return out


__all__ = [
    "OUTCOME_UNKNOWN", "OUTCOME_UNSURE", "Asked", "Report", "export_candidates",
    "record_question", "record_vote", "report",
]
