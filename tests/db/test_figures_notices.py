"""Notices that help and tell the truth: a reminder's one-tap Report now button, a digest that
says others were told only when they were, and office heads' first-submission subscription."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.reports import notices as report_notices
from tests.conftest import at
from tests.db.test_escalation import (
    CITY_HEAD,
    HEAD,
    LATE_UNIT,
    LIAISON,
    NEVER,
    ON_TIME,
    _escalate,
    _outbox,
    _remind,
    _submit,
    zz,  # noqa: F401  (the fixture)
)


async def test_reminder_carries_a_report_now_button(
        zz: async_sessionmaker[AsyncSession]) -> None:  # noqa: F811
    assert await _remind(zz, "2018-10-08 16:00") == 3
    rows = [r for r in await _outbox(zz) if r.kind == "reminder"]
    markup = rows[0].payload["reply_markup"]["inline_keyboard"][0][0]
    assert markup["text"] == "📝 立即填报"
    assert {r.payload["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
            for r in rows} == {f"rpn:{u}:survey" for u in (ON_TIME, LATE_UNIT, NEVER)}


async def test_digest_says_others_were_told_only_when_they_were(
        zz: async_sessionmaker[AsyncSession]) -> None:  # noqa: F811
    # 13 of the 16 late counties have no liaison or office head registered: at the deadline
    # only three were told, so the city's digest must not claim that all of them were
    await _escalate(zz, "2018-10-08 18:00")
    await _escalate(zz, "2018-10-08 21:00")
    digest = [r for r in await _outbox(zz)
              if r.chat_id == CITY_HEAD and r.kind == "escalation"][-1].payload["text"]
    assert "16 个单位仍未报送" in digest and "已通知" not in digest
    heads = [r for r in await _outbox(zz) if r.chat_id == HEAD[NEVER]]
    assert "已提醒联络员" in heads[0].payload["text"]  # its liaison was told, truly


async def test_first_submission_reaches_subscribed_heads_only(
        zz: async_sessionmaker[AsyncSession]) -> None:  # noqa: F811
    async with zz() as s:
        assert await report_notices.set_subscription(
            s, user_id=HEAD[ON_TIME], kind=report_notices.FIRST_SUBMISSION, on=True,
            now=at("2018-10-08 08:00"))
        await s.commit()  # the test is the unit-of-work owner
    await _submit(zz, ON_TIME, "2018-10-08 17:10")
    await _submit(zz, LATE_UNIT, "2018-10-08 17:20")  # its head did not subscribe
    firsts = [r for r in await _outbox(zz) if r.kind == "report_first"]
    assert [r.chat_id for r in firsts] == [HEAD[ON_TIME]]
    assert "中原区 已报送 2018-10-08 的入户调查进度调度表" in firsts[0].payload["text"]
    assert LIAISON[ON_TIME] not in {r.chat_id for r in firsts}
    async with zz() as s:
        assert await report_notices.set_subscription(
            s, user_id=HEAD[ON_TIME], kind=report_notices.FIRST_SUBMISSION, on=False,
            now=at("2018-10-09 08:00"))
        await s.commit()  # the test is the unit-of-work owner
    await _submit(zz, ON_TIME, "2018-10-09 17:10")
    assert len([r for r in await _outbox(zz) if r.kind == "report_first"]) == 1
