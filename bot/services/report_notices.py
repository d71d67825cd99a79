"""Notices about reports: office heads hear when a submitted report is corrected."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.reports import Report
from bot.services.outbox import enqueue, office_heads_for, recipients_locales, render_notice
from bot.services.report_templates import ReportTemplate, fmt

MISSING = "—"


def changed_fields(template: ReportTemplate, before: Mapping[str, Any],
                   after: Mapping[str, Any], locale: str) -> list[dict[str, str]]:
    """The template's fields whose value differs between two versions, in template order."""
    return [
        {"label": f.label_for(locale), "unit": f.unit_for(locale),
         "old": fmt(before[f.key]) if f.key in before else MISSING,
         "new": fmt(after[f.key]) if f.key in after else MISSING}
        for f in template.fields
        if before.get(f.key) != after.get(f.key)
    ]


async def tell_heads_of_correction(
    session: AsyncSession, *, report: Report, before: Mapping[str, Any],
    template: ReportTemplate, unit_name: dict[str, str], actor_id: int | None, now: datetime,
) -> int:
    """Queue, in the caller's transaction, a notice of a corrected report to the office heads
    of its unit (or the nearest unit above that has any); the one who corrected it is skipped.
    `unit_name` maps "zh"/"en" to the unit's name. Returns how many notices were queued."""
    heads = [h for h in await office_heads_for(session, report.unit_code) if h != actor_id]
    if not heads:
        return 0
    locales = await recipients_locales(session, heads)
    queued = 0
    for head in heads:
        locale = locales[head]
        text = render_notice(
            "notices/report_corrected.html.j2", locale,
            unit=unit_name["en" if locale.startswith("en") else "zh"],
            table=template.name_for(locale), start=report.period_start.isoformat(),
            end=report.period_end.isoformat(), version=report.version,
            changes=changed_fields(template, before, report.values, locale),
            reason=report.reason, late=now > report.deadline,
        )
        key = (f"report-corrected:{report.unit_code}/{report.phase}/"
               f"{report.period_start.isoformat()}/v{report.version}:{head}")
        if await enqueue(session, now=now, chat_id=head, kind="report_corrected", text=text,
                         dedup_key=key):
            queued += 1
    return queued
