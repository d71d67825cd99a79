"""Q&A desk service: routing to the nearest desk, authorization by grants, answers in the
asker's language, reminders once per round, candidates and the curation report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.outbox import OutboxMessage
from bot.i18n import Catalogs
from bot.services.access import users as users_service
from bot.services.access.principal import Principal, load_principal
from bot.services.faqdesk import desk as faq_desk
from bot.services.faqdesk import log as faq_log
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 10:00")
CATALOGS = Catalogs()
UNKNOWN = faq_log.Asked(topic=None, best_topic=None, score=0.05, confident=False, unsure=False)


async def _org(session: AsyncSession, grants: list[tuple[int, str, str]]) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    for user_id, role, unit in grants:
        await users_service.grant_role(session, now=NOW, user_id=user_id, role=role,
                                       unit_code=unit)


async def _principal(session: AsyncSession, user_id: int, locale: str = "zh_CN") -> Principal:
    return await load_principal(session, user_id, locale)


async def _ask(session: AsyncSession, user_id: int, locale: str = "zh_CN",
               text: str = "普查办食堂几点开饭") -> faq_desk.Escalated:
    qid = await faq_log.record_question(session, now=NOW, user_id=user_id, chat_id=user_id,
                                        locale=locale, text=text, asked=UNKNOWN)
    return await faq_desk.escalate(session, now=NOW, catalogs=CATALOGS, question_id=qid,
                                   principal=await _principal(session, user_id, locale),
                                   chat_id=user_id)


async def _outbox(session: AsyncSession) -> list[OutboxMessage]:
    return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def test_routes_to_nearest_desk_then_root(session: AsyncSession) -> None:
    await _org(session, [(1, "enumerator", "410102"), (2, "enumerator", "410103"),
                         (10, "qa_desk", "410102"), (20, "qa_desk", "410100")])
    county = await _ask(session, 1)
    assert (county.unit_code, county.new) == ("410102", True)
    no_county_desk = await _ask(session, 2)
    assert no_county_desk.unit_code == "410100"
    public = await _ask(session, 3)
    assert public.unit_code == "410100"
    assert [m.chat_id for m in await _outbox(session)] == [10, 20, 20]


async def test_no_desk_anywhere_is_a_clear_error(session: AsyncSession) -> None:
    await _org(session, [])
    with pytest.raises(DomainError, match="No help desk"):
        await _ask(session, 3)


async def test_only_a_covering_desk_may_answer_and_only_once(session: AsyncSession) -> None:
    await _org(session, [(1, "enumerator", "410102"), (10, "qa_desk", "410102"),
                         (11, "qa_desk", "410103"), (20, "qa_desk", "410100")])
    sent = await _ask(session, 1, locale="en")
    with pytest.raises(DomainError, match="Only the help desk"):
        await faq_desk.answer(session, now=NOW, catalogs=CATALOGS, exchange_id=sent.exchange_id,
                              principal=await _principal(session, 11), text="no")
    with pytest.raises(DomainError, match="Only the help desk"):  # an enumerator, not desk
        await faq_desk.answer(session, now=NOW, catalogs=CATALOGS, exchange_id=sent.exchange_id,
                              principal=await _principal(session, 1), text="no")
    # The city desk covers the county below it.
    await faq_desk.answer(session, now=NOW, catalogs=CATALOGS, exchange_id=sent.exchange_id,
                          principal=await _principal(session, 20), text="十二点开饭。")
    with pytest.raises(DomainError, match="already been answered"):
        await faq_desk.answer(session, now=NOW, catalogs=CATALOGS,
                              exchange_id=sent.exchange_id,
                              principal=await _principal(session, 10), text="again")
    to_asker = [m for m in await _outbox(session) if m.chat_id == 1]
    assert len(to_asker) == 1
    assert to_asker[0].payload["text"].startswith("<b>Answer from the help desk of Zhongyuan")
    assert "十二点开饭。" in to_asker[0].payload["text"]


async def test_answer_text_is_escaped_and_checked(session: AsyncSession) -> None:
    await _org(session, [(10, "qa_desk", "410100")])
    sent = await _ask(session, 1)
    desk = await _principal(session, 10)
    with pytest.raises(DomainError, match="empty"):
        await faq_desk.answer(session, now=NOW, catalogs=CATALOGS,
                              exchange_id=sent.exchange_id, principal=desk, text="  ")
    await faq_desk.answer(session, now=NOW, catalogs=CATALOGS, exchange_id=sent.exchange_id,
                          principal=desk, text="a < b & <i>c</i>")
    text = next(m for m in await _outbox(session) if m.chat_id == 1).payload["text"]
    assert "a &lt; b &amp; &lt;i&gt;c&lt;/i&gt;" in text


async def test_reminders_once_per_round_and_not_after_answer(session: AsyncSession) -> None:
    await _org(session, [(10, "qa_desk", "410100")])
    sent = await _ask(session, 1)
    after = timedelta(hours=4)

    async def remind(when: timedelta) -> int:
        return await faq_desk.remind(session, now=NOW + when, catalogs=CATALOGS, after=after,
                                     rounds=2)

    assert await remind(timedelta(hours=3)) == 0
    assert await remind(timedelta(hours=4)) == 1
    assert await remind(timedelta(hours=5)) == 0  # same round: nothing new
    assert await remind(timedelta(hours=8)) == 1
    assert await remind(timedelta(hours=20)) == 0  # at most two rounds
    keys = [m.dedup_key for m in await _outbox(session) if m.kind == "faq_desk_reminder"]
    assert keys == [f"faq-desk-remind:{sent.exchange_id}:1:10",
                    f"faq-desk-remind:{sent.exchange_id}:2:10"]
    second = await _ask(session, 2)
    await faq_desk.answer(session, now=NOW, catalogs=CATALOGS, exchange_id=second.exchange_id,
                          principal=await _principal(session, 10), text="ok")
    assert await remind(timedelta(hours=4)) == 0


async def test_candidates_export_and_report(session: AsyncSession) -> None:
    await _org(session, [(10, "qa_desk", "410100")])
    sent = await _ask(session, 1, text="普查办食堂几点开饭")
    await _ask(session, 2, text="普查办食堂几点开饭？")
    desk = await _principal(session, 10)
    await faq_desk.answer(session, now=NOW, catalogs=CATALOGS, exchange_id=sent.exchange_id,
                          principal=desk, text="十二点。")
    assert await faq_desk.mark_candidate(session, now=NOW, exchange_id=sent.exchange_id,
                                         principal=desk)
    assert not await faq_desk.mark_candidate(session, now=NOW, exchange_id=sent.exchange_id,
                                             principal=desk)
    exported = await faq_log.export_candidates(session, now=NOW)
    assert [(e["question"]["zh"], e["answer"]["zh"]) for e in exported] == [
        ("普查办食堂几点开饭", "十二点。")]
    assert await faq_log.export_candidates(session, now=NOW) == []  # already exported
    qid = await faq_log.record_question(
        session, now=NOW, user_id=5, chat_id=5, locale="zh_CN", text="怎么核实普查员身份",
        asked=faq_log.Asked("verify_enumerator", "verify_enumerator", 0.9, True, False))
    assert await faq_log.record_vote(session, now=NOW, question_id=qid, user_id=5,
                                     topic="verify_enumerator", helpful=False)
    assert not await faq_log.record_vote(session, now=NOW, question_id=qid, user_id=5,
                                         topic="verify_enumerator", helpful=True)
    with pytest.raises(DomainError):  # someone else's question
        await faq_log.record_vote(session, now=NOW, question_id=qid, user_id=6,
                                  topic="verify_enumerator", helpful=True)
    rep = await faq_log.report(session)
    assert (rep.asked, rep.answered, rep.unknown, rep.escalated) == (3, 1, 2, 2)
    assert [(t.topic, t.unhelpful) for t in rep.weakest] == [("verify_enumerator", 1)]
    assert [(q.count, q.outcome) for q in rep.unanswered] == [(2, "unknown")]


async def test_report_groups_unanswered_questions_into_the_most_asked_gaps(
        session: AsyncSession) -> None:
    unsure = faq_log.Asked(topic=None, best_topic="two_staff", score=0.4, confident=False,
                           unsure=True)
    asked = [
        ("普查员一个月工资多少", unsure), ("普查員一個月工資多少？", unsure),
        ("普查员的工资一个月多少", UNKNOWN), ("普查员一个月工资多少", unsure),
        ("普查办食堂几点开饭", UNKNOWN), ("普查办食堂几点开饭？", UNKNOWN),
        ("明天下雨吗", UNKNOWN),
        ("怎么核实普查员身份", faq_log.Asked("verify_enumerator", "verify_enumerator", 0.9,
                                              True, False)),
    ]
    for n, (text, verdict) in enumerate(asked):
        await faq_log.record_question(session, now=NOW + timedelta(minutes=n), user_id=n,
                                      chat_id=n, locale="zh_CN", text=text, asked=verdict)
    rep = await faq_log.report(session, limit=2)
    assert [(g.text, g.count, g.variants, g.outcome, g.best_topic) for g in rep.unanswered] == [
        ("普查员一个月工资多少", 4, 3, "unsure", "two_staff"),
        ("普查办食堂几点开饭", 2, 2, "unknown", None),
    ]
    assert set(rep.unanswered[0].examples) == {"普查員一個月工資多少？", "普查员的工资一个月多少"}
    assert rep.as_dict()["unanswered"][0]["variants"] == 3
