"""/verify's staff reads: lookups starting together share one read, each gets its own record."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.models.audit import AuditEntry
from bot.db.models.staff import Staff
from bot.services.roster import org as org_service
from bot.services.verification import lookups as verification
from bot.telegram.staff_reads import StaffReads
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")


async def _seed(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        s.add_all([
            Staff(staff_id=f"ZZ-410102-{n:04d}", name=f"张小{n}", role="enumerator",
                  unit_code="410102", phone=f"+861380000{n:04d}", valid_to=date(2019, 6, 30),
                  status="suspended" if n == 3 else "active", created_at=NOW, updated_at=NOW)
            for n in range(1, 6)
        ])
        s.add(Staff(staff_id="ZZ-410100-0001", name="王主任", role="office_head",
                    unit_code="410100", phone="+8613800009999", valid_to=None, status="active",
                    created_at=NOW, updated_at=NOW))
        await s.commit()  # the test is the unit-of-work owner


def _seen(verdict: verification.Verdict) -> tuple[Any, ...]:
    """What the person asking is shown: the result and the public card, units by name."""
    card = verdict.card
    return (verdict.result, verdict.query, card and (card.staff_id, card.masked_name, card.role,
                                                      card.unit_names("zh_CN"), card.valid_to))


async def test_lookups_at_once_share_one_read(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Twelve lookups at once (known, suspended, unknown, a city-level record, the same ID
    twice): one statement reads the roster for all; each lookup's verdict and card are its
    own, the same as a lookup reading in its own transaction."""
    await _seed(sessionmaker)
    queries = [*(f"ZZ-410102-{n:04d}" for n in range(1, 6)), "ZZ-410102-9999",
               "ZZ-410100-0001", "ZZ-410102-0001", "not an id", "", "x" * 200, "ZZ-999999-0001"]
    reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "FROM staff" in statement:
            reads.append(statement)

    reader = StaffReads(sessionmaker)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        found = await asyncio.gather(
            *(reader.read(verification.normalize_query(q)) for q in queries))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(reads) == 1
    assert [sorted(f) for f in found] == [
        *([f"ZZ-410102-{n:04d}"] for n in range(1, 6)), [], ["ZZ-410100-0001"],
        ["ZZ-410102-0001"], [], [], [], []]
    staff, chain = found[1]["ZZ-410102-0002"]
    assert (staff.name, [u.code for u in chain]) == ("张小2", ["410100", "410102"])
    assert [u.code for u in found[6]["ZZ-410100-0001"][1]] == ["410100"]

    policy = verification.LookupPolicy(per_minute=100, per_day=100, office_limit=100)
    results = []
    for i, (query, ahead) in enumerate(zip(queries, found, strict=True)):
        async with sessionmaker() as s:
            given = await verification.lookup(s, now=NOW, user_id=1000 + i, chat_id=1000 + i,
                                              text=query, policy=policy, found=ahead)
            await s.commit()  # the test is the unit-of-work owner
        async with sessionmaker() as s:
            own = await verification.lookup(s, now=NOW, user_id=2000 + i, chat_id=2000 + i,
                                            text=query, policy=policy)
            await s.commit()  # the test is the unit-of-work owner
        assert _seen(given) == _seen(own), query
        results.append(given.result)
    assert results == [*(["genuine"] * 2), "suspended", *(["genuine"] * 2), "unknown", "genuine",
                       "genuine", *(["unknown"] * 4)]
    async with sessionmaker() as s:
        audited = (await s.scalars(select(AuditEntry.object_id)
                                   .where(AuditEntry.action == "lookup"))).all()
    assert len(audited) == 2 * len(queries)  # every lookup audited, read ahead or not
