"""Lookup limits that hold under concurrency, and scans across accounts that get throttled."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models.audit import AuditEntry
from bot.db.models.staff import Staff
from bot.db.models.verification import StaffLookup
from bot.services.roster import org as org_service
from bot.services.verification import lookups as verification
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")


async def _seed(session: AsyncSession) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    session.add_all([
        Staff(staff_id=f"ZZ-410102-{n:04d}", name="张小华", role="enumerator",
              unit_code="410102", phone=f"+861380000{n:04d}", valid_to=date(2019, 6, 30),
              status="active", created_at=NOW, updated_at=NOW)
        for n in range(1, 80)
    ])
    await session.commit()


async def test_thirty_concurrent_lookups_get_exactly_the_limit(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        await _seed(session)
    policy = verification.LookupPolicy(per_minute=10, per_day=100, office_limit=1000)

    async def one(n: int) -> str:
        async with sessionmaker() as session:
            verdict = await verification.lookup(
                session, now=NOW + timedelta(milliseconds=n), user_id=77, chat_id=77,
                text="ZZ-410102-0001", policy=policy)
            await session.commit()  # the caller (here, the test) owns the unit of work
            return verdict.result

    results = await asyncio.gather(*(one(n) for n in range(30)))
    assert results.count("genuine") == 10
    assert results.count("refused") == 20
    async with sessionmaker() as session:
        answered = await session.scalar(select(func.count(StaffLookup.id)).where(
            StaffLookup.user_id == 77, StaffLookup.result != "refused"))
    assert answered == 10  # every lookup is audited, refused ones as refused


async def test_six_accounts_walking_one_office_are_throttled(session: AsyncSession) -> None:
    """The attack from the issue: six accounts, ten IDs each, within one minute."""
    await _seed(session)
    policy = verification.LookupPolicy(per_minute=10, per_day=100, office_limit=30)
    answered = 0
    refused_scan = 0
    n = 0
    for account in range(6):
        for _ in range(10):
            n += 1
            verdict = await verification.lookup(
                session, now=NOW + timedelta(seconds=n // 2), user_id=300 + account,
                chat_id=300 + account, text=f"ZZ-410102-{n:04d}", policy=policy)
            if verdict.result == "genuine":
                answered += 1
            elif verdict.limit == "scan":
                refused_scan += 1
    assert answered == 30 and refused_scan == 30
    flags = (await session.scalars(select(AuditEntry).where(
        AuditEntry.action == verification.OFFICE_SCAN_ACTION))).all()
    assert len(flags) == 1 and flags[0].object_id == "ZZ-410102-"
    # Another office's IDs are not affected, and the pause ends with the window.
    other = await verification.lookup(session, now=NOW + timedelta(seconds=40), user_id=399,
                                      chat_id=399, text="ZZ-410105-0001", policy=policy)
    assert other.result == "unknown"
    later = await verification.lookup(session, now=NOW + timedelta(minutes=11), user_id=399,
                                      chat_id=399, text="ZZ-410102-0001", policy=policy)
    assert later.result == "genuine"


def test_scan_prefix() -> None:
    assert verification.scan_prefix("ZZ-410102-0001") == "ZZ-410102-"
    assert verification.scan_prefix("41010200010001") == "4101020001"
    assert verification.scan_prefix("ABC") is None


async def test_a_refused_users_lookups_do_not_use_up_the_offices_limit(
        session: AsyncSession) -> None:
    """The user's and the office's limits are counted in one statement; a lookup the user's
    own limit refuses is not counted against the office (others can still check its staff)."""
    await _seed(session)
    policy = verification.LookupPolicy(per_minute=3, per_day=100, office_limit=5)
    results = []
    for n in range(8):  # one account over its minute limit: 3 answered, 5 refused
        verdict = await verification.lookup(
            session, now=NOW + timedelta(seconds=n), user_id=501, chat_id=501,
            text=f"ZZ-410102-{n + 1:04d}", policy=policy)
        results.append((verdict.result, verdict.limit))
    assert results.count(("genuine", None)) == 3
    assert results.count(("refused", "minute")) == 5
    others = []
    for n in range(3):  # two more lookups of the office fit its limit of 5, the third not
        verdict = await verification.lookup(
            session, now=NOW + timedelta(seconds=10 + n), user_id=600 + n, chat_id=600 + n,
            text=f"ZZ-410102-{20 + n:04d}", policy=policy)
        others.append((verdict.result, verdict.limit))
    assert others == [("genuine", None), ("genuine", None), ("refused", "scan")]
