"""Notices about reports: office heads hear when a submitted report is corrected, and, if they
subscribed (/subscribe), when a unit first submits for a period."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.reports import NoticeSubscription, Report
from bot.db.models.users import RoleGrant
from bot.db.upsert import insert_ignore
from bot.services.reports.templates import ReportTemplate, fmt
from bot.services.shared.outbox import notify, office_heads_for

MISSING = "—"


def changed_fields(template: ReportTemplate, before: Mapping[str, Any],
                   after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The template's fields whose value differs between two versions, in template order:
    the field (labels in both languages) with its old and new value as people write them."""
    return [
        {"field": f,
         "old": fmt(before[f.key]) if f.key in before else MISSING,
         "new": fmt(after[f.key]) if f.key in after else MISSING}
        for f in template.fields
        if before.get(f.key) != after.get(f.key)
    ]


async def office_heads_of(session: AsyncSession, unit: Unit) -> list[int]:
    """Office heads of the unit, or of the nearest unit above that has any: what
    `office_heads_for` answers, in one query (the unit's path names the units above it)
    instead of one query per level."""
    chain = unit.path.strip("/").split("/")
    if chain[-1] != unit.code:  # not a path of codes: ask level by level
        return await office_heads_for(session, unit.code)
    heads: dict[str, set[int]] = {}
    for user_id, code in (await session.execute(_heads_stmt(), {"codes": chain})).all():
        heads.setdefault(str(code), set()).add(int(user_id))
    return next((sorted(heads[code]) for code in reversed(chain) if heads.get(code)), [])


@lru_cache(maxsize=1)
def _heads_stmt() -> Any:
    """The office-head grants on a list of units (bound: `codes`), built once."""
    return select(RoleGrant.user_id, RoleGrant.unit_code).where(
        RoleGrant.role == "office_head",
        RoleGrant.unit_code.in_(bindparam("codes", expanding=True)))


async def tell_heads_of_correction(
    session: AsyncSession, *, report: Report, before: Mapping[str, Any],
    template: ReportTemplate, unit: Unit, actor_id: int | None, now: datetime,
) -> int:
    """Queue, in the caller's transaction, a notice of a corrected report to the office heads
    of its unit (or the nearest unit above that has any); the one who corrected it is skipped.
    Returns how many notices were queued."""
    heads = [h for h in await office_heads_of(session, unit) if h != actor_id]
    return await notify(
        session, now=now, users=heads, kind="report_corrected",
        template="notices/report_corrected.html.j2",
        key=(f"report-corrected:{report.unit_code}/{report.phase}/"
             f"{report.period_start.isoformat()}/v{report.version}"),
        unit=unit, table=template, start=report.period_start.isoformat(),
        end=report.period_end.isoformat(), version=report.version,
        changes=changed_fields(template, before, report.values), reason=report.reason,
        late=now > report.deadline,
    )


FIRST_SUBMISSION = "first_submission"


async def set_subscription(session: AsyncSession, *, user_id: int, kind: str, on: bool,
                           now: datetime) -> bool:
    """Turn a notice subscription on or off; the caller commits. True when it changed anything."""
    if on:
        added = await insert_ignore(session, NoticeSubscription, [
            {"user_id": user_id, "kind": kind, "created_at": now}], ["user_id", "kind"])
        await session.flush()
        return added > 0
    result = await session.execute(delete(NoticeSubscription).where(
        NoticeSubscription.user_id == user_id, NoticeSubscription.kind == kind))
    await session.flush()
    return bool(getattr(result, "rowcount", 0))


async def subscribed(session: AsyncSession, user_ids: list[int], kind: str) -> set[int]:
    """Which of these users subscribed to `kind`."""
    if not user_ids:
        return set()
    rows = await session.scalars(select(NoticeSubscription.user_id).where(
        NoticeSubscription.kind == kind, NoticeSubscription.user_id.in_(user_ids)))
    return set(rows.all())


async def tell_heads_of_first_submission(
    session: AsyncSession, *, report: Report, template: ReportTemplate, unit: Unit,
    actor_id: int | None, now: datetime,
) -> int:
    """Queue, in the caller's transaction, a notice that a unit submitted for a period for the
    first time, to its office heads who subscribed. Returns how many were queued."""
    heads = [h for h in await office_heads_of(session, unit) if h != actor_id]
    wanted = await subscribed(session, heads, FIRST_SUBMISSION)
    return await notify(
        session, now=now, users=[h for h in heads if h in wanted], kind="report_first",
        template="notices/first_submission.html.j2",
        key=f"report-first:{report.unit_code}/{report.phase}/{report.period_start.isoformat()}",
        unit=unit, table=template, start=report.period_start.isoformat(),
        end=report.period_end.isoformat(), late=now > report.deadline,
        new_found=sum((report.new_found or {}).values()),
    )
