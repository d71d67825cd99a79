"""Report review (审核): every submitted report version is received, then accepted or returned
with comments on named fields. A return reaches the unit's liaisons in their language; their
correction is a new version, whose review starts again (the older one is superseded).
Roll-ups may count accepted versions only (`accepted_reports`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Supervision
from bot.db.models.org import Unit
from bot.db.models.reports import Report
from bot.db.models.supervision import (
    ACCEPTED,
    RECEIVED,
    REVIEW_RETURNED,
    SUPERSEDED,
    ReportReview,
)
from bot.i18n import Translator
from bot.services.access.principal import Principal
from bot.services.reports.templates import Field, ReportTemplate, fmt, get_template
from bot.services.shared import audit
from bot.services.shared.errors import DomainError
from bot.services.shared.outbox import office_heads_for
from bot.services.supervision.notify import button, notify
from bot.services.supervision.orders import clean_text, local

REVIEWER_ROLES = frozenset({"office_head", "admin"})
LINE_RE = re.compile(r"^\s*([^:：]{1,60})[:：]\s*(.+)$")


async def received(session: AsyncSession, report: Report, *, now: datetime) -> ReportReview:
    """Open the review of a new report version (caller's transaction); an earlier version still
    waiting is superseded (a first version has none)."""
    if report.version > 1:
        await session.execute(update(ReportReview).where(
            ReportReview.state == RECEIVED,
            ReportReview.report_id.in_(select(Report.id).where(
                Report.unit_code == report.unit_code, Report.phase == report.phase,
                Report.period_start == report.period_start, Report.id != report.id)))
            .values(state=SUPERSEDED, decided_at=now)
            .execution_options(synchronize_session=False))
    row = ReportReview(report_id=report.id, unit_code=report.unit_code, state=RECEIVED,
                       received_at=now)
    session.add(row)
    return row


def may_review(principal: Principal | None, unit: Unit) -> bool:
    """Office heads of an office above the unit review its reports."""
    return principal is not None and any(
        g.role in REVIEWER_ROLES and unit.path.startswith(g.unit_path) and unit.path != g.unit_path
        for g in principal.grants)


@dataclass
class Waiting:
    """A report version waiting for review, with its unit and template."""

    review: ReportReview
    report: Report
    unit: Unit
    template: ReportTemplate

    def context(self, locale: str) -> dict[str, Any]:
        """Template variables: unit, period, version and the values as people write them."""
        r = self.report
        return {"review": self.review, "report": r, "unit": self.unit,
                "table": self.template.name_for(locale), "received": local(
                    self.review.received_at),
                "values": [{"label": f.label_for(locale), "value": fmt(r.values[f.key])}
                           for f in self.template.fields if f.key in r.values
                           and r.values[f.key] not in ("", None)]}


async def waiting(session: AsyncSession, principal: Principal | None,
                  limit: int = 100) -> list[Waiting]:
    """Report versions waiting for review in the user's scope, oldest first."""
    if principal is None:
        return []
    paths = [g.unit_path for g in principal.grants if g.role in REVIEWER_ROLES]
    if not paths:
        return []
    stmt = (select(ReportReview, Report, Unit)
            .join(Report, Report.id == ReportReview.report_id)
            .join(Unit, Unit.code == ReportReview.unit_code)
            .where(ReportReview.state == RECEIVED,
                   or_(*[Unit.path.startswith(p) & (Unit.path != p) for p in paths]))
            .order_by(ReportReview.received_at, ReportReview.id).limit(limit))
    return [Waiting(rv, rep, unit, get_template(rep.phase))
            for rv, rep, unit in (await session.execute(stmt)).all()]


def review_markup(review_id: int) -> Any:
    """Accept and Return buttons on a waiting report."""
    def build(t: Translator) -> dict[str, Any]:
        return {"inline_keyboard": [[button(t("Accept"), Supervision("racc", review_id).pack()),
                                     button(t("Return"), Supervision("rret", review_id).pack())]]}
    return build


async def load(session: AsyncSession, review_id: int, principal: Principal | None) -> Waiting:
    """A review the user may decide, still waiting (DomainError saying what happened else)."""
    rv = await session.get(ReportReview, review_id, populate_existing=True)
    if rv is None:
        raise DomainError("There is no such report to review.")
    report = await session.get(Report, rv.report_id)
    unit = await session.get(Unit, rv.unit_code)
    assert report is not None and unit is not None
    if not may_review(principal, unit):
        raise DomainError("Only the office heads above %(unit)s review its reports.",
                          unit=unit.name)
    if rv.state == ACCEPTED:
        raise DomainError("This report was already accepted on %(when)s.",
                          when=local(rv.decided_at or rv.received_at))
    if rv.state == REVIEW_RETURNED:
        raise DomainError("This report was already returned on %(when)s.",
                          when=local(rv.decided_at or rv.received_at))
    if rv.state == SUPERSEDED:
        raise DomainError("A newer version of this report was submitted; review that one.")
    return Waiting(rv, report, unit, get_template(report.phase))


async def _decide(session: AsyncSession, w: Waiting, state: str, principal: Principal | None,
                  now: datetime, **values: Any) -> None:
    done = await session.execute(
        update(ReportReview).where(ReportReview.id == w.review.id,
                                   ReportReview.state == RECEIVED)
        .values(state=state, decided_at=now,
                decided_by=principal.user_id if principal else None, **values)
        .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        review_id = w.review.id
        session.expire_all()  # the UPDATE changed nothing: re-read what happened
        await load(session, review_id, principal)  # says what happened meanwhile
        raise DomainError("There is no such report to review.")
    await session.refresh(w.review)
    audit.record(session, now=now, action=f"review.{state}",
                 actor_user_id=principal.user_id if principal else None, object_type="report",
                 object_id=str(w.report.id), unit_code=w.unit.code)


async def accept(session: AsyncSession, review_id: int, *, principal: Principal | None,
                 now: datetime) -> Waiting:
    """Accept the report version; its liaisons hear it; the caller commits."""
    w = await load(session, review_id, principal)
    await _decide(session, w, ACCEPTED, principal, now)
    await notify(session, now=now, users=await _unit_people(session, w), kind="review",
                 key=f"review:{w.review.id}:accepted",
                 template="supervision/review_accepted.html.j2",
                 unit=w.unit, table=w.template, report=w.report)
    await session.flush()
    return w


def match_field(template: ReportTemplate, name: str) -> Field | None:
    """The template field a reviewer named (label in either language, key or alias)."""
    wanted = name.strip().lower()
    for f in template.fields:
        if wanted in {f.key.lower(), f.label.lower(), f.label_en.lower(),
                      *(a.lower() for a in f.aliases)}:
            return f
    return None


def parse_comments(template: ReportTemplate, text: str) -> tuple[list[dict[str, str]], str]:
    """"Field: comment" lines into [{key, comment}] and the remaining general comment;
    DomainError when no line names a field of the table."""
    body = clean_text(text, 2000)
    fields, general = [], []
    for line in body.splitlines():
        m = LINE_RE.match(line)
        f = match_field(template, m.group(1)) if m else None
        if f is not None and m is not None:
            fields.append({"key": f.key, "comment": m.group(2).strip()})
        elif line.strip():
            general.append(line.strip())
    if not fields:
        raise DomainError("Name the field you comment on, one per line, as \"field: comment\" "
                          "(e.g. \"%(example)s: 与清查数不符\"). Fields of this table: %(fields)s.",
                          example=template.fields[0].label,
                          fields="、".join(f.label for f in template.fields), retry=True)
    return fields, "\n".join(general)


async def return_report(session: AsyncSession, review_id: int, *, principal: Principal | None,
                        text: str, now: datetime) -> Waiting:
    """Return the report version with comments on named fields; the unit's liaisons (and office
    heads) get them in their language and correct with /report; the caller commits."""
    w = await load(session, review_id, principal)
    fields, general = parse_comments(w.template, text)
    await _decide(session, w, REVIEW_RETURNED, principal, now, fields=fields,
                  comment=general or None)
    by_key = {f.key: f for f in w.template.fields}
    await notify(session, now=now, users=await _unit_people(session, w), kind="review",
                 key=f"review:{w.review.id}:returned",
                 template="supervision/review_returned.html.j2", unit=w.unit, table=w.template,
                 report=w.report, general=general,
                 comments=[{"field": by_key[c["key"]], "comment": c["comment"],
                            "value": fmt(w.report.values.get(c["key"], ""))} for c in fields])
    await session.flush()
    return w


async def _unit_people(session: AsyncSession, w: Waiting) -> list[int]:
    from bot.db.repo import users as users_repo

    people = set(await users_repo.holders(session, ["liaison"], w.unit.code))
    people.add(int(w.report.submitted_by))
    if not people - {0}:
        people.update(await office_heads_for(session, w.unit.code))
    return sorted(p for p in people if p)


def accepted_ids() -> Any:
    """A subquery of the ids of report versions accepted in review."""
    return select(ReportReview.report_id).where(ReportReview.state == ACCEPTED)


async def accepted_reports(session: AsyncSession, unit_codes: list[str], phase: str) -> dict[
        str, Report]:
    """Per unit, the latest accepted report version of `phase` (for accepted-only figures)."""
    stmt = (select(Report).join(ReportReview, ReportReview.report_id == Report.id)
            .where(ReportReview.state == ACCEPTED, Report.phase == phase,
                   Report.unit_code.in_(unit_codes))
            .order_by(Report.period_start, Report.version))
    out: dict[str, Report] = {}
    for r in (await session.scalars(stmt)).all():
        out[r.unit_code] = r
    return out
