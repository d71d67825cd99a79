"""Impostor reports: one person cannot flood an office head, at night or otherwise."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.outbox import OutboxMessage
from bot.db.models.verification import ImpostorReport
from bot.i18n import Catalogs
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from bot.services.verification import impostor
from bot.services.verification import lookups as verification
from tests.conftest import ZHENGZHOU, at

NIGHT = at("2018-10-08 19:00")  # 03:00 in Shanghai
HEAD = 900


async def _seed(session: AsyncSession) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NIGHT)
    await users_service.grant_role(session, now=NIGHT, user_id=HEAD, role="office_head",
                                   unit_code="410100")


async def _failed_lookup(session: AsyncSession, user_id: int, text: str) -> int:
    verdict = await verification.lookup(session, now=NIGHT, user_id=user_id, chat_id=user_id,
                                        text=text, policy=verification.LookupPolicy())
    assert verdict.result == "unknown" and verdict.lookup_id is not None
    return verdict.lookup_id


async def _notices(session: AsyncSession) -> list[OutboxMessage]:
    return list((await session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "impostor_report").order_by(OutboxMessage.id))).all())


async def test_one_failed_lookup_cannot_flood_the_office_at_night(session: AsyncSession) -> None:
    await _seed(session)
    catalogs = Catalogs()
    lookup_id = await _failed_lookup(session, 51, "ZZ-999999-0001")
    outcomes = []
    for n in range(12):
        try:
            filed = await impostor.file_report(
                session, now=NIGHT + timedelta(minutes=n), user_id=51, chat_id=51,
                lookup_id=lookup_id, text=f"第{n}次：有人冒充普查员", photo_file_id=None,
                latitude=None, longitude=None, catalogs=catalogs)
            outcomes.append("merged" if filed.merged else "filed")
        except DomainError as exc:
            assert "already sent 3 reports today" in str(exc)
            outcomes.append("refused")
    assert outcomes == ["filed", "merged", "merged"] + ["refused"] * 9
    reports = (await session.scalars(select(ImpostorReport))).all()
    assert len(reports) == 1 and reports[0].duplicates == 2 and "第2次" in reports[0].text
    notices = await _notices(session)
    assert [n.chat_id for n in notices] == [HEAD]  # one notice, not twelve
    assert notices[0].respect_quiet_hours  # held until the office head's quiet hours end


async def test_urgent_is_the_reporters_choice_and_still_limited(session: AsyncSession) -> None:
    await _seed(session)
    catalogs = Catalogs()
    first = await _failed_lookup(session, 52, "ZZ-999999-0002")
    filed = await impostor.file_report(
        session, now=NIGHT, user_id=52, chat_id=52, lookup_id=first, text="正在门口",
        photo_file_id=None, latitude=None, longitude=None, catalogs=catalogs, urgent=True)
    assert filed.report.urgent and not filed.urgent_refused
    second = await _failed_lookup(session, 52, "ZZ-999999-0003")
    again = await impostor.file_report(
        session, now=NIGHT + timedelta(minutes=5), user_id=52, chat_id=52, lookup_id=second,
        text="又来一个", photo_file_id=None, latitude=None, longitude=None, catalogs=catalogs,
        urgent=True)
    assert again.urgent_refused and not again.report.urgent
    notices = await _notices(session)
    assert [n.respect_quiet_hours for n in notices] == [False, True]


@pytest.mark.parametrize("reporters", [6])
async def test_many_reporters_about_one_id_are_merged_after_the_limit(
        session: AsyncSession, reporters: int) -> None:
    await _seed(session)
    catalogs = Catalogs()
    results = []
    for n in range(reporters + 2):
        lookup_id = await _failed_lookup(session, 60 + n, "ZZ-999999-0009")
        filed = await impostor.file_report(
            session, now=NIGHT + timedelta(minutes=n), user_id=60 + n, chat_id=60 + n,
            lookup_id=lookup_id, text="冒充", photo_file_id=None, latitude=None,
            longitude=None, catalogs=catalogs)
        results.append(filed.merged)
    assert results == [False] * 5 + [True] * 3  # per-ID limit: five reports a day
    assert len(await _notices(session)) == 5
