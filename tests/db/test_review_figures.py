"""Accepted-only figures: a report version counts in an accepted-only snapshot once review
accepts it; a returned version never does; the default snapshot counts every version."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.access import users as users_service
from bot.services.access.principal import load_principal
from bot.services.reports import submission as reports_service
from bot.services.reports.progress import progress_snapshot
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from bot.services.supervision import review
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 10:00")
LIAISON, HEAD = 701, 702
VALUES = {"industrial_filled": 120, "industrial_entered": 100, "livestock_filled": 30,
          "livestock_entered": 20, "domestic_filled": 10, "domestic_entered": 8,
          "centralized_filled": 5, "centralized_entered": 5, "mobile_filled": 12,
          "mobile_entered": 10}


async def _snap(sm: async_sessionmaker[AsyncSession], accepted_only: bool) -> float | None:
    async with sm() as s:
        [p] = [x for x in await progress_snapshot(s, root_code="410102", phase="survey",
                                                  now=NOW, accepted_only=accepted_only)]
        return p.values.get("industrial_filled")


async def test_accepted_only_snapshot(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    for uid, role, unit in ((LIAISON, "liaison", "410102"), (HEAD, "office_head", "410100")):
        async with sessionmaker() as s:
            await users_service.grant_role(s, now=NOW, user_id=uid, role=role, unit_code=unit)
            await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        principal = await load_principal(s, LIAISON, "zh_CN")
        await reports_service.submit(s, principal=principal, unit_code="410102", phase="survey",
                                     values=VALUES, source="quick", now=NOW, locale="zh_CN")
        await s.commit()  # the test is the unit-of-work owner
    assert await _snap(sessionmaker, False) == 120
    assert await _snap(sessionmaker, True) is None  # received, not yet accepted
    async with sessionmaker() as s:
        head = await load_principal(s, HEAD, "zh_CN")
        [w] = await review.waiting(s, head)
        with_comment = "industrial_filled: 与清查数不符"
        await review.return_report(s, w.review.id, principal=head, text=with_comment, now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    assert await _snap(sessionmaker, True) is None  # returned
    async with sessionmaker() as s:
        principal = await load_principal(s, LIAISON, "zh_CN")
        await reports_service.submit(s, principal=principal, unit_code="410102", phase="survey",
                                     values={**VALUES, "industrial_filled": 130}, source="quick",
                                     now=NOW, locale="zh_CN")
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        [w] = await review.waiting(s, head)
        assert w.report.version == 2
        rid = w.review.id
        liaison = await load_principal(s, LIAISON, "zh_CN")
        try:  # a liaison cannot review their own unit
            await review.accept(s, rid, principal=liaison, now=NOW)
            raise AssertionError("accepted by the liaison")
        except DomainError:
            await s.rollback()
        await review.accept(s, rid, principal=head, now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    assert await _snap(sessionmaker, True) == 130 and await _snap(sessionmaker, False) == 130


async def test_a_decision_lost_to_another_head_keeps_the_callers_transaction(
        sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Two heads decide the same version: the second is told it was decided meanwhile, and
    the service does not roll back what its caller's transaction already holds."""
    from sqlalchemy import func, select

    from bot.db.models.audit import AuditEntry
    from bot.services.shared import audit

    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        for uid, role, unit in ((LIAISON, "liaison", "410102"), (HEAD, "office_head", "410100")):
            await users_service.grant_role(s, now=NOW, user_id=uid, role=role, unit_code=unit)
        await s.commit()
    async with sessionmaker() as s:
        principal = await load_principal(s, LIAISON, "zh_CN")
        await reports_service.submit(s, principal=principal, unit_code="410102", phase="survey",
                                     values=VALUES, source="quick", now=NOW, locale="zh_CN")
        await s.commit()
    async with sessionmaker() as s:
        head = await load_principal(s, HEAD, "zh_CN")
        [w] = await review.waiting(s, head)  # the first head looks at the version
        await s.commit()
    async with sessionmaker() as s:  # the second head accepts it first
        await review.accept(s, w.review.id, principal=head, now=NOW)
        await s.commit()
    async with sessionmaker() as s:  # the first head's update, with its own earlier work
        audit.record(s, now=NOW, action="test.earlier", actor_user_id=HEAD)
        await s.flush()
        try:
            await review._decide(s, w, review.REVIEW_RETURNED, head, NOW)
            raise AssertionError("decided twice")
        except DomainError:
            pass
        await s.commit()
    async with sessionmaker() as s:
        kept = await s.scalar(select(func.count(AuditEntry.id))
                              .where(AuditEntry.action == "test.earlier"))
        accepted = await review.accepted_reports(s, ["410102"], "survey")
    assert kept == 1 and list(accepted) == ["410102"]  # still accepted, not returned
