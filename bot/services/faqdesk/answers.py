"""A question to the FAQ, from text to outcome: cleaned, searched (behind the queue, with no
database lock held), stored, and classified as an answer, a "did you mean" or unknown. The
handler renders the outcome; this module knows nothing of Telegram."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.read_phase import end_read_phase
from bot.services.faqdesk import log as faq_log
from bot.services.faqdesk.queue import FaqQueue, FaqRefused
from faq.content import FaqEntry
from faq.engine import ANSWER, DID_YOU_MEAN, FaqIndex, SearchResult
from faq.loader import FaqStore
from faq.sanitize import clean_text

OTHERS_SHOWN = 3


def asked_from(result: SearchResult) -> faq_log.Asked:
    """What gets stored about a search result ("did you mean" is stored as unsure)."""
    best = result.shown or (result.candidates[0][0] if result.candidates else None)
    return faq_log.Asked(topic=result.topic, best_topic=best, score=result.score,
                         confident=result.outcome == ANSWER and result.topic is not None,
                         unsure=result.outcome == DID_YOU_MEAN)


@dataclass(frozen=True)
class Outcome:
    """What to show for a question: `refused` (with why), or the stored question id and the
    entry to answer with (`answer`), to suggest (`suggested`), or neither (unknown)."""

    refused: FaqRefused | None = None
    question_id: int = 0
    index: FaqIndex | None = None
    answer: FaqEntry | None = None
    suggested: FaqEntry | None = None


async def ask(session: AsyncSession, text: str, *, faq: FaqStore, faq_queue: FaqQueue,
              user_id: int | None, chat_id: int, locale: str, now: datetime) -> Outcome:
    """Search the FAQ for `text` and store the question; the outcome to show."""
    text = clean_text(text)  # untrusted: normalised and bounded before search and storage

    def search() -> tuple[FaqIndex, SearchResult]:
        index = faq.index()  # may reload; the search asks the embedding worker
        return index, index.search(text)

    await end_read_phase(session)  # no database lock held while the question is searched
    try:
        index, result = await faq_queue.run(user_id, now, search)
    except FaqRefused as exc:
        return Outcome(refused=exc)
    asked = asked_from(result)
    qid = await faq_log.record_question(session, now=now, user_id=user_id, chat_id=chat_id,
                                        locale=locale, text=text, asked=asked)
    if asked.confident and result.topic is not None:
        return Outcome(question_id=qid, index=index, answer=index.by_id[result.topic])
    suggested = index.by_id.get(result.suggestion or "") if asked.unsure else None
    return Outcome(question_id=qid, index=index, suggested=suggested)


def other_entries(index: FaqIndex, question: str) -> list[FaqEntry]:
    """"See other questions": the entries that might fit besides the one suggested."""
    result = index.search(question)
    shown = result.shown
    ids = [t for t in (*result.alternatives, *(c for c, _s in result.candidates)) if t != shown]
    return [index.by_id[t] for t in dict.fromkeys(ids) if t in index.by_id][:OTHERS_SHOWN]
