"""Impostor reports: stored, forwarded through the outbox to the office heads concerned.

Limits (ImpostorPolicy): a reporter files at most `per_user_day` reports a day; a second
report by the same person about the same ID within `merge_window` is merged into the first
(no new notice); after `per_id_day` reports about one ID in a day, further ones are merged
into the latest. Notices respect the office heads' quiet hours unless the reporter marks the
report urgent (at most `urgent_per_user_day` a day; more are sent as ordinary reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ImpostorHandled
from bot.db.models.org import Unit
from bot.db.models.users import ChatUser
from bot.db.models.verification import (
    FAILED_RESULTS,
    REPORT_HANDLED,
    REPORT_OPEN,
    ImpostorReport,
    StaffLookup,
)
from bot.db.repo import units as units_repo
from bot.db.repo import users as users_repo
from bot.i18n import Catalogs, pick_locale
from bot.rendering import render
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.shared import audit, outbox, rate_counter
from bot.services.shared.errors import DomainError
from bot.services.verification.lookups import RESULT_LABELS

MAX_TEXT = 2000
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class ImpostorPolicy:
    """How many reports a person may file, and when reports are merged."""

    per_user_day: int = 3
    per_id_day: int = 5
    urgent_per_user_day: int = 1
    merge_window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Filed:
    """A stored report and how many office heads it was forwarded to."""

    report: ImpostorReport
    recipients: int
    merged: bool = False  # added to an earlier open report; nobody was notified again
    urgent_refused: bool = False  # asked for urgent over the daily allowance: sent as normal


async def _merge_target(
    session: AsyncSession, *, now: datetime, user_id: int, claimed_id: str,
    policy: ImpostorPolicy,
) -> ImpostorReport | None:
    since = now - policy.merge_window
    mine = await session.scalar(
        select(ImpostorReport).where(ImpostorReport.reporter_user_id == user_id,
                                     ImpostorReport.claimed_id == claimed_id,
                                     ImpostorReport.status == REPORT_OPEN,
                                     ImpostorReport.created_at > since)
        .order_by(ImpostorReport.id.desc()).limit(1))
    if mine is not None:
        return mine
    count = await session.scalar(
        select(func.count(ImpostorReport.id)).where(ImpostorReport.claimed_id == claimed_id,
                                                    ImpostorReport.created_at > since))
    if int(count or 0) < policy.per_id_day:
        return None
    return await session.scalar(
        select(ImpostorReport).where(ImpostorReport.claimed_id == claimed_id,
                                     ImpostorReport.status == REPORT_OPEN)
        .order_by(ImpostorReport.id.desc()).limit(1))


async def recipients_for(session: AsyncSession, unit: Unit | None) -> tuple[list[int], str | None]:
    """Office heads of the unit, else of the nearest unit above that has some.

    For an unknown ID (no unit) the office heads of the root unit(s). Returns (user ids,
    the unit code the report is filed under).
    """
    if unit is None:
        roots = await units_repo.roots(session)
        ids: list[int] = []
        for root in roots:
            ids.extend(await users_repo.holders(session, ["office_head"], root.code))
        return sorted(set(ids)), roots[0].code if roots else None
    chain = [*await units_repo.ancestors(session, unit), unit]
    for candidate in reversed(chain):
        heads = await users_repo.holders(session, ["office_head"], candidate.code)
        if heads:
            return list(heads), unit.code
    return [], unit.code


async def file_report(
    session: AsyncSession, *, now: datetime, user_id: int, chat_id: int, lookup_id: int,
    text: str, photo_file_id: str | None, latitude: float | None, longitude: float | None,
    catalogs: Catalogs, tz: ZoneInfo = SHANGHAI, urgent: bool = False,
    policy: ImpostorPolicy | None = None,
) -> Filed:
    """Store the report and queue a notice (with a "handled" button) to each office head.

    Limited per reporter and per claimed ID; duplicates merge into an open report.
    """
    policy = policy or ImpostorPolicy()
    lookup = await session.get(StaffLookup, lookup_id)
    if lookup is None or lookup.user_id != user_id or lookup.result not in FAILED_RESULTS:
        raise DomainError("A report can only follow a check that failed. Please check the ID "
                          "again and use the report button under the answer.")
    body = (text or "").strip()[:MAX_TEXT]
    if not body:
        raise DomainError("Please describe what happened in a few words.")
    day = now.astimezone(tz).date().toordinal()
    allowed = await rate_counter.bump(session, f"i:u:{user_id}", a_window=day,
                                      a_limit=policy.per_user_day, b_window=day,
                                      b_limit=policy.per_user_day)
    if not allowed.ok:
        await session.rollback()
        raise DomainError("You have already sent %(count)s reports today; the census office "
                          "has them. If you are in danger, call the police (110).",
                          count=policy.per_user_day)
    urgent_refused = False
    if urgent:
        got = await rate_counter.bump(session, f"i:urgent:{user_id}", a_window=day,
                                      a_limit=policy.urgent_per_user_day, b_window=day,
                                      b_limit=policy.urgent_per_user_day)
        urgent, urgent_refused = got.ok, not got.ok
    target = await _merge_target(session, now=now, user_id=user_id, claimed_id=lookup.query,
                                 policy=policy)
    if target is not None:
        target.duplicates += 1
        target.text = (target.text + "\n—\n" + body)[:MAX_TEXT * 2]
        audit.record(session, now=now, action="impostor.merged", actor_user_id=user_id,
                     object_type="impostor_report", object_id=str(target.id),
                     unit_code=target.unit_code, lookup_result=lookup.result)
        await session.commit()
        return Filed(target, 0, merged=True, urgent_refused=urgent_refused)
    unit = await session.get(Unit, lookup.unit_code) if lookup.unit_code else None
    heads, unit_code = await recipients_for(session, unit)
    report = ImpostorReport(
        created_at=now, reporter_user_id=user_id, reporter_chat_id=chat_id, lookup_id=lookup.id,
        claimed_id=lookup.query, lookup_result=lookup.result, staff_id=lookup.staff_id,
        unit_code=unit_code, text=body, photo_file_id=photo_file_id, latitude=latitude,
        longitude=longitude, status=REPORT_OPEN, urgent=urgent, duplicates=0,
    )
    session.add(report)
    await session.flush()
    unit_name = unit.name if unit else ""
    for head in heads:
        person = await session.get(ChatUser, head)
        locale = pick_locale(person.language if person else None,
                             person.telegram_language if person else None)
        t = catalogs.get(locale)
        notice = render("verify/report_notice.html.j2", t, report=report,
                        unit=(unit.display_name(locale) if unit else unit_name),
                        result=t(RESULT_LABELS.get(report.lookup_result, report.lookup_result)),
                        reported_at=now.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
        markup = {"inline_keyboard": [[{"text": t("Mark as handled"),
                                        "callback_data": ImpostorHandled(report.id).pack()}]]}
        key = f"impostor:{report.id}:{head}"
        await outbox.enqueue(session, now=now, chat_id=head, kind="impostor_report",
                             text=notice, reply_markup=markup, dedup_key=key,
                             respect_quiet_hours=not urgent)
        if photo_file_id:
            await outbox.enqueue(
                session, now=now, chat_id=head, kind="impostor_report", method="sendPhoto",
                payload={"photo": photo_file_id,
                         "caption": t("Photo for impostor report #%(id)s") % {"id": report.id}},
                dedup_key=f"{key}:photo", respect_quiet_hours=not urgent)
        if latitude is not None and longitude is not None:
            await outbox.enqueue(
                session, now=now, chat_id=head, kind="impostor_report", method="sendLocation",
                payload={"latitude": latitude, "longitude": longitude},
                dedup_key=f"{key}:location", respect_quiet_hours=not urgent)
    audit.record(session, now=now, action="impostor.report", actor_user_id=user_id,
                 object_type="impostor_report", object_id=str(report.id), unit_code=unit_code,
                 lookup_result=lookup.result, recipients=len(heads), urgent=urgent)
    await session.commit()
    return Filed(report, len(heads), urgent_refused=urgent_refused)


async def mark_handled(
    session: AsyncSession, *, now: datetime, principal: Principal, report_id: int,
) -> ImpostorReport:
    """An office head covering the report's unit marks it handled."""
    report = await session.get(ImpostorReport, report_id)
    unit = await session.get(Unit, report.unit_code) if report and report.unit_code else None
    if report is None or unit is None or not principal.covers(OFFICE_ROLES, unit.path):
        raise DomainError("Only an office head of the unit concerned can handle this report.")
    if report.status == REPORT_HANDLED:
        raise DomainError("Report #%(id)s was already marked handled.", id=report.id)
    report.status = REPORT_HANDLED
    report.handled_by = principal.user_id
    report.handled_at = now
    audit.record(session, now=now, action="impostor.handled", actor_user_id=principal.user_id,
                 object_type="impostor_report", object_id=str(report.id),
                 unit_code=report.unit_code)
    await session.commit()
    return report


async def open_reports(
    session: AsyncSession, unit_codes: Sequence[str]
) -> Sequence[ImpostorReport]:
    """Open reports filed under the given units."""
    return (await session.scalars(
        select(ImpostorReport).where(ImpostorReport.status == REPORT_OPEN,
                                     ImpostorReport.unit_code.in_(list(unit_codes)))
        .order_by(ImpostorReport.created_at)
    )).all()
