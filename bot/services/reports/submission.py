"""Progress reports: who may report for what, targets, drafts, submission and corrections."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import bindparam, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.reports import Report, ReportDraft, ReportTarget
from bot.db.upsert import upsert_returning
from bot.services.access.principal import REPORTING_ROLES, Principal
from bot.services.reports import notices as report_notices
from bot.services.reports.cadence import Assignment, Period, assignment, assignments, period_for
from bot.services.reports.templates import (
    N_,
    Problem,
    ReportTemplate,
    Value,
    get_template,
    missing_new_found,
    validate,
)
from bot.services.reports.xlsx import TargetRow, read_targets_xlsx
from bot.services.shared import audit
from bot.services.shared.errors import DomainError
from bot.services.supervision import hooks as supervision_hooks

log = logging.getLogger(__name__)


def clean(values: Mapping[str, Any]) -> dict[str, Value]:
    """Values as stored: whole numbers as int, text stripped."""
    out: dict[str, Value] = {}
    for k, v in values.items():
        if isinstance(v, float) and v.is_integer():
            out[k] = int(v)
        elif isinstance(v, str):
            out[k] = v.strip()
        else:
            out[k] = v
    return out


# ------------------------------------------------------------------------------- access


async def reportable(session: AsyncSession, principal: Principal | None) -> list[Assignment]:
    """The (unit, phase) assignments this user may submit for: liaison/office head covering it."""
    if principal is None or not principal.has_any(REPORTING_ROLES):
        return []
    paths = [g.unit_path for g in principal.units_for(REPORTING_ROLES)]
    return [a for a in await assignments(session, under=paths)
            if principal.covers(REPORTING_ROLES, a.unit.path)]


async def assignment_for(session: AsyncSession, principal: Principal | None, unit_code: str,
                         phase: str, roles: Iterable[str], refusal: str) -> Assignment:
    """The unit's assignment for the phase if the user holds one of `roles` over it;
    otherwise DomainError: the unit does not report on this table, or `refusal` (a msgid
    marked with N_, given the unit's name)."""
    found = await assignment(session, unit_code, phase)
    if found is None:
        raise DomainError("Unit %(unit)s does not report on this table.", unit=unit_code)
    if principal is None or not principal.covers(roles, found.unit.path):
        raise DomainError(refusal, unit=found.unit.name)
    return found


async def authorize(session: AsyncSession, principal: Principal | None, unit_code: str,
                    phase: str) -> Assignment:
    """The assignment if the user may report for this unit and phase; DomainError otherwise."""
    return await assignment_for(
        session, principal, unit_code, phase, REPORTING_ROLES,
        N_("Only a liaison or office head of %(unit)s can report for it."))


# ------------------------------------------------------------------------------ targets


def unit_targets(unit: Unit, phase: str) -> dict[str, float]:
    """Targets written in the org file's `extra` (targets: {phase: {key: value}})."""
    raw = unit.extra.get("targets") if isinstance(unit.extra, dict) else None
    section = raw.get(phase) if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        return {}
    return {str(k): float(v) for k, v in section.items() if isinstance(v, int | float)}


async def targets_for_units(session: AsyncSession, units: Sequence[Unit],
                            phase: str) -> dict[str, dict[str, float]]:
    """Targets per unit code: the org file's values, overridden by imported ones."""
    out = {u.code: unit_targets(u, phase) for u in units}
    codes = list(out)
    for i in range(0, len(codes), 500):
        rows = await session.scalars(select(ReportTarget).where(
            ReportTarget.phase == phase, ReportTarget.unit_code.in_(codes[i:i + 500])))
        for row in rows:
            out[row.unit_code][row.key] = row.value
    return out


def read_targets_file(path: Path) -> list[TargetRow]:
    """Targets from YAML ({units: {code: {phase: {key: value}}}}) or XLSX (unit_code, phase,
    key, target columns; Chinese headers 单位代码, 阶段, 指标, 目标 accepted)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DomainError("Cannot read the targets file: %(reason)s", reason=str(exc)) from exc
        rows = []
        for code, phases in (data.get("units") or {}).items():
            for phase, keys in (phases or {}).items():
                if phase == "name":
                    continue
                for key, value in (keys or {}).items():
                    rows.append(TargetRow(str(code), str(phase), str(key), float(value)))
        return rows

    return read_targets_xlsx(path.read_bytes())


async def import_targets(session: AsyncSession, rows: Iterable[TargetRow], *, source: str,
                         now: datetime) -> tuple[int, list[str]]:
    """Upsert targets (unknown units and phases are reported, not imported); the caller commits."""
    units = set((await session.scalars(select(Unit.code))).all())
    from bot.services.reports.templates import templates

    phases = templates()
    errors: list[str] = []
    count = 0
    for row in rows:
        if row.unit_code not in units:
            errors.append(f"{row.unit_code}: unknown unit")
            continue
        tmpl = phases.get(row.phase)
        if tmpl is None:
            errors.append(f"{row.unit_code}: unknown phase {row.phase}")
            continue
        known = {f.target for f in tmpl.fields if f.target}
        if row.key not in known:
            errors.append(f"{row.unit_code}: unknown target {row.key} in {row.phase}")
            continue
        if row.value < 0:
            errors.append(f"{row.unit_code}: negative target {row.key}")
            continue
        existing = await session.scalar(select(ReportTarget).where(
            ReportTarget.unit_code == row.unit_code, ReportTarget.phase == row.phase,
            ReportTarget.key == row.key))
        if existing is None:
            session.add(ReportTarget(unit_code=row.unit_code, phase=row.phase, key=row.key,
                                     value=row.value, source=source, updated_at=now))
        else:
            existing.value, existing.source, existing.updated_at = row.value, source, now
        count += 1
    audit.record(session, now=now, action="report.targets_import", object_type="targets",
                 object_id=source[:128], imported=count, rejected=len(errors))
    await session.flush()
    return count, errors


# ------------------------------------------------------------------------------ reports


async def versions(session: AsyncSession, unit_code: str, phase: str,
                   period_start: date) -> Sequence[Report]:
    """Every version of a unit's report for one period, oldest first."""
    stmt = (select(Report).where(Report.unit_code == unit_code, Report.phase == phase,
                                 Report.period_start == period_start)
            .order_by(Report.version))
    return (await session.scalars(stmt)).all()


async def latest_before(session: AsyncSession, unit_code: str, phase: str,
                        before: date) -> Report | None:
    """The latest version of the last report of a period that started before `before`."""
    stmt = (select(Report).where(Report.unit_code == unit_code, Report.phase == phase,
                                 Report.period_start < before)
            .order_by(Report.period_start.desc(), Report.version.desc()).limit(1))
    return (await session.scalars(stmt)).first()


async def _previous_and_versions(session: AsyncSession, unit_code: str, phase: str,
                                 period_start: date) -> tuple[Report | None, list[Report]]:
    """`latest_before` and `versions` of one period in one query (each report entry runs it)."""
    rows = (await session.scalars(_previous_and_versions_stmt(), {
        "unit": unit_code, "phase": phase, "start": period_start})).all()
    prev = next((r for r in rows if r.period_start < period_start), None)
    return prev, [r for r in rows if r.period_start == period_start]


@lru_cache(maxsize=1)
def _previous_and_versions_stmt() -> Any:
    """The statement of `_previous_and_versions` ("unit", "phase", "start"), built once."""
    unit: Any = bindparam("unit")
    phase: Any = bindparam("phase")
    start: Any = bindparam("start")
    latest_id = (select(Report.id).where(Report.unit_code == unit, Report.phase == phase,
                                         Report.period_start < start)
                 .order_by(Report.period_start.desc(), Report.version.desc()).limit(1)
                 .scalar_subquery())
    return (select(Report).where(Report.unit_code == unit, Report.phase == phase,
                                 or_(Report.period_start == start, Report.id == latest_id))
            .order_by(Report.period_start, Report.version))


@dataclass(frozen=True)
class ReportContext:
    """What entry needs to know: the unit, template, period, targets, previous and current."""

    assignment: Assignment
    template: ReportTemplate
    period: Period
    targets: dict[str, float]
    previous: dict[str, Any]  # the last report of an earlier period (for "change since")
    current: Report | None  # this period's latest version, if already submitted

    @property
    def baseline(self) -> dict[str, Any]:
        """What cumulative values may not go below: this period's latest, else the previous."""
        return dict(self.current.values) if self.current else self.previous


async def context(session: AsyncSession, principal: Principal | None, unit_code: str,
                  phase: str, now: datetime, found: Assignment | None = None) -> ReportContext:
    """Everything needed to enter or check a report for this unit now (authorized).

    `found`: the unit's assignment for the phase when the caller already has it from
    `reportable` (which checked that the principal covers it): not read again."""
    if (found is None or found.unit.code != unit_code or found.phase != phase
            or principal is None or not principal.covers(REPORTING_ROLES, found.unit.path)):
        found = await authorize(session, principal, unit_code, phase)
    period = period_for(found.cadence, now)
    targets = (await targets_for_units(session, [found.unit], phase))[unit_code]
    prev, found_versions = await _previous_and_versions(session, unit_code, phase,
                                                       period.start)
    current = found_versions[-1] if found_versions else None
    return ReportContext(found, get_template(phase), period, targets,
                         dict(prev.values) if prev else {}, current)


def check(ctx: ReportContext, values: Mapping[str, Value], locale: str,
          complete: bool = True) -> list[Problem]:
    """Every rule the values break in this context."""
    return validate(ctx.template, values, targets=ctx.targets, previous=ctx.baseline,
                    locale=locale, complete=complete)


async def submit(
    session: AsyncSession,
    *,
    principal: Principal | None,
    unit_code: str,
    phase: str,
    values: Mapping[str, Value],
    source: str,
    now: datetime,
    locale: str,
    reason: str | None = None,
    new_found: Mapping[str, float] | None = None,
    ctx: ReportContext | None = None,
) -> Report:
    """Save the report as the next version of this period's report and delete the draft.

    Refuses values that break a rule; a cumulative decrease needs `reason`; a count above its
    target needs the number of newly found objects (新增) of that target key in `new_found`.
    `ctx`: this unit's and phase's `context`, read by the caller in this transaction at the
    same `now` (report entry reads it for every input): not read again (unless it is for
    another unit, phase or period, or the principal does not cover its unit).
    """
    if (ctx is None or ctx.assignment.unit.code != unit_code or ctx.assignment.phase != phase
            or ctx.period != period_for(ctx.assignment.cadence, now) or principal is None
            or not principal.covers(REPORTING_ROLES, ctx.assignment.unit.path)):
        ctx = await context(session, principal, unit_code, phase, now)
    values = clean(values)
    problems = check(ctx, values, locale)
    hard = [p for p in problems if p.hard]
    if hard:
        raise DomainError(hard[0].message, **hard[0].params)
    if any(p.confirmable for p in problems) and not (reason and reason.strip()):
        raise DomainError("A cumulative figure went down: give the reason before saving.")
    if missing_new_found(problems, new_found):
        raise DomainError("A count is above its target: say how many objects were newly found "
                          "before saving.")
    if ctx.current is not None and dict(ctx.current.values) == values and (
            (ctx.current.new_found or {}) == dict(new_found or {})):
        raise DomainError("Nothing changed: these figures are the same as version %(version)s "
                          "already submitted.", version=ctx.current.version)
    version = (ctx.current.version + 1) if ctx.current else 1
    report = Report(unit_code=unit_code, phase=phase, period_start=ctx.period.start,
                    period_end=ctx.period.end, deadline=ctx.period.deadline, version=version,
                    values=dict(values), source=source,
                    reason=reason.strip() if reason else None,
                    new_found=clean(new_found) if new_found else None,
                    submitted_by=principal.user_id if principal else 0, submitted_at=now)
    try:  # a SAVEPOINT: a concurrent save of the same version undoes only this report
        async with session.begin_nested():
            session.add(report)
            if principal is not None:
                await session.execute(
                    delete(ReportDraft).where(ReportDraft.user_id == principal.user_id))
            audit.record(
                session, now=now, action="report.submit" if version == 1 else "report.correct",
                actor_user_id=principal.user_id if principal else None, object_type="report",
                object_id=f"{unit_code}/{phase}/{ctx.period.start.isoformat()}/v{version}",
                unit_code=unit_code, source=source)
            if ctx.current is None:  # a first submission: subscribed office heads hear of it
                await report_notices.tell_heads_of_first_submission(
                    session, report=report, template=ctx.template, unit=ctx.assignment.unit,
                    actor_id=principal.user_id if principal else None, now=now)
            if ctx.current is not None:  # a correction: the office heads hear of it (same
                await report_notices.tell_heads_of_correction(  # transaction)
                    session, report=report, before=dict(ctx.current.values),
                    template=ctx.template, unit=ctx.assignment.unit,
                    actor_id=principal.user_id if principal else None, now=now)
            # review (审核) and "problems and needs" tracking, in the same transaction
            await supervision_hooks.report_submitted(session, report, ctx.assignment.unit,
                                                     now=now)
    except IntegrityError as exc:
        raise DomainError("Someone saved this report at the same moment; please look at it "
                          "again and retry.") from exc
    return report


async def version_count(session: AsyncSession, unit_code: str, phase: str,
                        period_start: date) -> int:
    """How many versions this period's report has."""
    return int(await session.scalar(select(func.count()).select_from(Report).where(
        Report.unit_code == unit_code, Report.phase == phase,
        Report.period_start == period_start)) or 0)


# ------------------------------------------------------------------------------- drafts


async def get_draft(session: AsyncSession, user_id: int) -> ReportDraft | None:
    """The user's unfinished report, if any."""
    return await session.scalar(_draft_stmt(), {"user": user_id})


@lru_cache(maxsize=1)
def _draft_stmt() -> Any:
    """The statement of `get_draft` ("user"), built once (Confirm and every step read it)."""
    return select(ReportDraft).where(ReportDraft.user_id == bindparam("user"))


async def save_draft(
    session: AsyncSession,
    *,
    user_id: int,
    now: datetime,
    phase: str,
    unit_code: str | None,
    values: Mapping[str, Value],
    cursor: int = 0,
    stage: str = "fields",
    source: str = "guided",
    reason: str | None = None,
    new_found: Mapping[str, float] | None = None,
) -> ReportDraft:
    """Create or replace the user's draft (committed with the update: a restart loses nothing),
    in one statement."""
    row = {"user_id": user_id, "created_at": now, "updated_at": now, "phase": phase,
           "unit_code": unit_code, "values": dict(clean(values)), "cursor": cursor,
           "stage": stage, "source": source, "reason": reason,
           "new_found": dict(clean(new_found)) if new_found else None}
    draft: ReportDraft = await upsert_returning(session, ReportDraft, row, ["user_id"],
                                                keep=["created_at"])
    return draft


async def discard_draft(session: AsyncSession, user_id: int) -> bool:
    """Delete the user's draft (the caller commits); True when there was one."""
    result = await session.execute(delete(ReportDraft).where(ReportDraft.user_id == user_id))
    await session.flush()
    return bool(getattr(result, "rowcount", 0))
