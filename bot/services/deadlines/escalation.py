"""The escalation ladder: at the deadline, later to the parent office, next morning late marks,
repeat offenders to leadership (约谈), and units behind the plan curve.

Everything is decided from the data as of an explicit `now` and enqueued with dedup keys, so
running again for the same period adds nothing.
"""

from __future__ import annotations

import copy
import itertools
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ReportUnit
from bot.db.models.org import Unit
from bot.db.models.reports import Report
from bot.db.models.scheduling import LAG, LATE, Escalation, LateMark
from bot.db.models.staff import Staff
from bot.db.models.users import RoleGrant
from bot.db.repo import users as users_repo
from bot.db.upsert import insert_ignore
from bot.services.reports.cadence import Period
from bot.services.reports.progress import UnitProgress, due_units, progress_snapshot
from bot.services.reports.templates import N_, templates
from bot.services.shared.holidays import HolidayCalendar, load_calendar
from bot.services.shared.outbox import notify
from bot.services.shared.pacing import Checkpoint, Pacer, batches, no_checkpoint
from bot.services.supervision.hooks import offer_order

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanCurve:
    """Planned completion (percent) by date: piecewise linear through its points."""

    points: tuple[tuple[date, float], ...]

    def at(self, day: date) -> float:
        """The planned percentage on `day` (0 before the start, the last value after)."""
        pts = self.points
        if day <= pts[0][0]:
            return pts[0][1]
        for (d0, v0), (d1, v1) in itertools.pairwise(pts):
            if day <= d1:
                return v0 + (v1 - v0) * (day - d0).days / max(1, (d1 - d0).days)
        return pts[-1][1]


@dataclass(frozen=True)
class EscalationConfig:
    """One organisation's reminder offsets, ladder, repeat-offender rule, lag rule, holidays."""

    reminders_before: tuple[int, ...] = (120, 30)
    deadline_after: int = 0
    parent_after: int = 180
    bulletin_at: time = time(8, 0)
    repeat_times: int = 3
    repeat_days: int = 7
    lag_points: float = 10.0
    plans: dict[str, PlanCurve] = field(default_factory=dict)
    holiday_policy: str = "skip"
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _as_time(value: Any) -> time:
    if isinstance(value, int):
        return time(value // 60 % 24, value % 60)
    return time.fromisoformat(str(value))


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


def parse_config(raw: dict[str, Any], data_dir: Path) -> EscalationConfig:
    """An organisation's config from the merged YAML mapping."""
    ladder = raw.get("ladder") or {}
    plans: dict[str, PlanCurve] = {}
    for phase, spec in ((raw.get("lag") or {}).get("plans") or {}).items():
        if "curve" in spec:
            pts = tuple(sorted((_as_date(d), float(v)) for d, v in spec["curve"]))
        else:
            pts = ((_as_date(spec["start"]), 0.0), (_as_date(spec["end"]), 100.0))
        if len(pts) < 2 or pts[0][0] >= pts[-1][0]:
            raise ValueError(f"plan for {phase}: needs two or more dates in order")
        plans[str(phase)] = PlanCurve(pts)
    hol = raw.get("holidays") or {}
    calendar = load_calendar(data_dir / str(hol.get("calendar", "holidays/cn.yaml")),
                             bool(hol.get("weekends_off", False)))
    repeat = raw.get("repeat_offenders") or {}
    return EscalationConfig(
        reminders_before=tuple(sorted((int(m) for m in raw.get("reminders_before_minutes",
                                                               [120, 30])), reverse=True)),
        deadline_after=int((ladder.get("deadline") or {}).get("after_minutes", 0)),
        parent_after=int((ladder.get("parent") or {}).get("after_minutes", 180)),
        bulletin_at=_as_time((ladder.get("bulletin") or {}).get("next_day_at", "08:00")),
        repeat_times=int(repeat.get("times", 3)),
        repeat_days=int(repeat.get("within_days", 7)),
        lag_points=float((raw.get("lag") or {}).get("points", 10)),
        plans=plans,
        holiday_policy=str(hol.get("policy", "skip")),
        calendar=calendar,
    )


@dataclass(frozen=True)
class EscalationSettings:
    """Every organisation's config; `for_root(code)` picks one."""

    default: EscalationConfig
    by_root: dict[str, EscalationConfig]

    def for_root(self, root_code: str) -> EscalationConfig:
        """The config of the organisation whose root unit is `root_code`."""
        return self.by_root.get(root_code, self.default)


def load_settings(data_dir: Path) -> EscalationSettings:
    """Read data/escalation.yaml (defaults when absent)."""
    path = data_dir / "escalation.yaml"
    raw: dict[str, Any] = {}
    if path.exists():
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
    base = raw.get("default") or {}
    return EscalationSettings(
        default=parse_config(base, data_dir),
        by_root={str(code): parse_config(_merge(base, over or {}), data_dir)
                 for code, over in (raw.get("organisations") or {}).items()},
    )


def root_of(path: str) -> str:
    """The root unit code of a materialised path '/410100/410102/'."""
    return path.strip("/").split("/")[0]


# ------------------------------------------------------------------------------ recipients
async def office_heads(session: AsyncSession, unit_code: str) -> list[int]:
    """Office heads granted on exactly this unit."""
    return list(await users_repo.holders(session, ["office_head"], unit_code))


async def leaders_above(session: AsyncSession, unit: Unit) -> list[int]:
    """Leadership (role leader) on the unit's ancestors."""
    codes = [c for c in unit.path.strip("/").split("/") if c != unit.code]
    if not codes:
        return []
    rows = await session.scalars(select(RoleGrant.user_id).where(
        RoleGrant.role == "leader", RoleGrant.unit_code.in_(codes)).distinct())
    return sorted(rows.all())


async def holders_by_unit(session: AsyncSession, roles: list[str],
                          codes: list[str]) -> dict[str, list[int]]:
    """Users holding one of `roles` granted exactly on each of `codes` (one query)."""
    out: dict[str, list[int]] = {c: [] for c in codes}
    if not codes:
        return out
    rows = await session.execute(
        select(RoleGrant.unit_code, RoleGrant.user_id)
        .outerjoin(Staff, Staff.staff_id == RoleGrant.source_staff_id)
        .where(RoleGrant.role.in_(roles), RoleGrant.unit_code.in_(codes),
               users_repo.effective_grant_clause())
        .distinct().order_by(RoleGrant.unit_code, RoleGrant.user_id))
    for code, uid in rows.all():
        out[code].append(int(uid))
    return out


async def reported_units(session: AsyncSession, due: list[DueToday]) -> set[str]:
    """Codes among `due` with a report (any version) for their current period (one query)."""
    if not due:
        return set()
    starts = {(d.unit.code, d.phase): d.period.start for d in due}
    rows = await session.execute(
        select(Report.unit_code, Report.phase, Report.period_start).where(
            Report.unit_code.in_(sorted({d.unit.code for d in due})),
            Report.phase.in_(sorted({d.phase for d in due})),
            Report.period_start.in_(sorted(set(starts.values())))).distinct())
    return {code for code, phase, start in rows.all() if starts.get((code, phase)) == start}


async def escalated(session: AsyncSession, due: list[DueToday], step: str) -> set[str]:
    """Codes among `due` whose rung `step` is already recorded for the period (one query)."""
    if not due:
        return set()
    ends = {(d.unit.code, d.phase): d.period.end for d in due}
    rows = await session.execute(
        select(Escalation.unit_code, Escalation.phase, Escalation.period_end).where(
            Escalation.unit_code.in_(sorted({d.unit.code for d in due})),
            Escalation.step == step,
            Escalation.period_end.in_(sorted(set(ends.values())))))
    return {code for code, phase, end in rows.all() if ends.get((code, phase)) == end}


async def _record(session: AsyncSession, p: UnitProgress | DueToday, step: str, now: datetime,
                  recipients: int) -> None:
    code, phase, period_end = ((p.unit.code, p.phase, p.period.end) if isinstance(p, DueToday)
                               else (p.unit_code, p.phase, p.period_end))
    await insert_ignore(session, Escalation, [{
        "unit_code": code, "phase": phase, "period_end": period_end, "step": step,
        "at": now, "recipients": recipients}], ["unit_code", "phase", "period_end", "step"])


# ------------------------------------------------------------------------------ the ladder
@dataclass
class EscalationResult:
    """What one run queued and marked."""

    enqueued: int = 0
    late_marked: list[str] = field(default_factory=list)
    lag_marked: list[str] = field(default_factory=list)
    summoned: list[str] = field(default_factory=list)
    skipped_holiday: int = 0


async def run(session: AsyncSession, *, now: datetime, settings: EscalationSettings,
              tz: ZoneInfo, checkpoint: Checkpoint = no_checkpoint) -> EscalationResult:
    """Take every rung that is due as of `now`. `checkpoint` ends each batch of units (the job
    commits there, so updates run between batches); the caller commits the rest."""
    result = EscalationResult()
    pacer = Pacer(checkpoint)
    await _ladder_today(session, now=now, settings=settings, result=result, pacer=pacer)
    await pacer.pause()
    await _next_morning(session, now=now, settings=settings, tz=tz, result=result, pacer=pacer)
    return result


async def _units(session: AsyncSession, codes: set[str]) -> dict[str, Unit]:
    rows = await session.scalars(select(Unit).where(Unit.code.in_(codes)))
    return {u.code: u for u in rows.all()}


@dataclass(frozen=True)
class DueToday:
    """A unit whose reporting period ends today, with its holiday-adjusted deadline."""

    unit: Unit
    phase: str
    config: EscalationConfig
    deadline: datetime
    period: Period


async def due_today(session: AsyncSession, *, now: datetime,
                    settings: EscalationSettings) -> tuple[list[DueToday], int]:
    """Units due today with their deadlines, and how many were skipped for a holiday."""
    due = await due_units(session, now=now)
    units = await _units(session, {code for code, _, _ in due})
    out: list[DueToday] = []
    skipped = 0
    for code, phase, period in due:
        unit = units[code]
        cfg = settings.for_root(root_of(unit.path))
        deadline = cfg.calendar.effective_deadline(period.deadline, cfg.holiday_policy)
        if deadline is None:
            skipped += 1
            continue
        out.append(DueToday(unit, phase, cfg, deadline, period))
    return out, skipped


async def unit_progress(session: AsyncSession, *, unit_code: str, phase: str,
                        now: datetime) -> UnitProgress:
    """The progress of one reporting unit in its current period."""
    [p] = [x for x in await progress_snapshot(session, root_code=unit_code, phase=phase, now=now)
           if x.unit_code == unit_code]
    return p


async def _ladder_today(session: AsyncSession, *, now: datetime, settings: EscalationSettings,
                        result: EscalationResult, pacer: Pacer) -> None:
    """The deadline rung (liaisons and heads) and the parent rung (a digest per parent
    office), in batches: per batch one query each for what is reported, what is already
    escalated and who to tell, then one short transaction."""
    due, skipped = await due_today(session, now=now, settings=settings)
    result.skipped_holiday += skipped
    due = [d for d in due if now >= d.deadline + timedelta(minutes=d.config.deadline_after)]
    units = {d.unit.code: d.unit for d in due}
    digest: dict[tuple[str, str, date, datetime], list[DueToday]] = {}
    await pacer.pause()
    for batch in batches(due):
        reported = await reported_units(session, list(batch))
        late = [d for d in batch if d.unit.code not in reported]
        near = [d for d in late if now < d.deadline + timedelta(minutes=d.config.parent_after)]
        near_ids = {id(d) for d in near}
        for d in late:
            if id(d) not in near_ids and d.unit.parent_code is not None:
                digest.setdefault((d.unit.parent_code, d.phase, d.period.end, d.deadline),
                                  []).append(d)
        done = await escalated(session, near, "deadline")
        near = [d for d in near if d.unit.code not in done]
        codes = [d.unit.code for d in near]
        liaisons_of = await holders_by_unit(session, ["liaison"], codes)
        heads_of = await holders_by_unit(session, ["office_head"], codes)
        for d in near:
            result.enqueued += await _deadline_rung(session, d, now, liaisons_of[d.unit.code],
                                                    heads_of[d.unit.code])
        await pacer.pause()
    if digest:
        done = await escalated(session, [x for late in digest.values() for x in late], "parent")
        digest = {k: v for k, v in digest.items() if any(x.unit.code not in done for x in v)}
    for (parent_code, phase, period_end, deadline), late in sorted(
            digest.items(), key=lambda kv: kv[0][0]):
        await pacer.step()
        heads = await office_heads(session, parent_code)
        parent = await session.get(Unit, parent_code)
        late_units = [units[x.unit.code] for x in late]
        told = list((await session.scalars(select(Escalation.recipients).where(
            Escalation.unit_code.in_([x.unit.code for x in late]), Escalation.phase == phase,
            Escalation.period_end == period_end, Escalation.step == "deadline"))).all())
        n = await notify(session, now=now, users=heads, kind="escalation",
                         template="notices/overdue_parent.html.j2",
                         key=f"esc-parent:{parent_code}:{phase}:{period_end}", parent=parent,
                         late_units=late_units, deadline=deadline, period_end=period_end,
                         told=len(told) == len(late) and all(r > 0 for r in told))
        for x in late:
            await _record(session, x, "parent", now, n)
            await offer_order(session, now=now, users=heads, unit=units[x.unit.code],
                              reason="late", day=period_end)
        result.enqueued += n


async def _deadline_rung(session: AsyncSession, d: DueToday, now: datetime,
                         liaisons: list[int], heads: list[int]) -> int:
    """The unit's liaisons and office heads told it is overdue; the rung recorded."""
    unit, phase, code = d.unit, d.phase, d.unit.code
    key = f"esc:{code}:{phase}:{d.period.end}"
    # the notices say who else was told only when someone was
    ctx: dict[str, Any] = {"unit": unit, "phase": phase, "deadline": d.deadline,
                           "period_end": d.period.end, "report": templates().get(phase),
                           "liaisons_told": bool(liaisons),
                           "heads_told": any(h not in liaisons for h in heads)}
    n = await notify(session, now=now, users=liaisons, kind="escalation",
                     template="notices/overdue_liaison.html.j2", key=f"{key}:deadline",
                     buttons=[(N_("📝 Report now"), ReportUnit("n", code, phase).pack())], **ctx)
    n += await notify(session, now=now, users=[h for h in heads if h not in liaisons],
                      kind="escalation", template="notices/overdue_head.html.j2",
                      key=f"{key}:deadline", **ctx)
    await _record(session, d, "deadline", now, n)
    return n


async def _next_morning(session: AsyncSession, *, now: datetime, settings: EscalationSettings,
                        tz: ZoneInfo, result: EscalationResult, pacer: Pacer) -> None:
    """Yesterday's late and missing units marked for the bulletin; repeat offenders; lag.

    Progress is read once per organisation, phase and period (not per unit); units already
    marked late are skipped (their mark was committed with their notices); then batches.
    """
    local = now.astimezone(tz)
    yesterday = local.date() - timedelta(days=1)
    probe = datetime.combine(yesterday, time(12, 0), tzinfo=tz)
    due = await due_units(session, now=probe)
    units = await _units(session, {code for code, _, _ in due})
    todo: list[tuple[Unit, str, Period, EscalationConfig, datetime]] = []
    for code, phase, period in due:
        unit = units[code]
        cfg = settings.for_root(root_of(unit.path))
        if local.time() < cfg.bulletin_at:
            continue
        deadline = cfg.calendar.effective_deadline(period.deadline, cfg.holiday_policy)
        if deadline is None:
            result.skipped_holiday += 1
            continue
        todo.append((unit, phase, period, cfg, deadline))
    marked = set((await session.execute(select(
        LateMark.unit_code, LateMark.phase, LateMark.period_end).where(
        LateMark.kind == LATE, LateMark.unit_code.in_(sorted({u.code for u, *_ in todo})),
        LateMark.period_end.in_(sorted({p.end for _, _, p, _, _ in todo}))))).all()) \
        if todo else set()
    todo = [t for t in todo if (t[0].code, t[1], t[2].end) not in marked]
    progress: dict[tuple[str, str, date], UnitProgress] = {}
    for root, phase, end in sorted({(root_of(u.path), ph, p.end) for u, ph, p, _, _ in todo}):
        for x in await progress_snapshot(session, root_code=root, phase=phase, now=now,
                                         period_end=end):
            progress.setdefault((x.unit_code, phase, x.period_end), x)
    await pacer.pause()
    for unit, phase, period, cfg, deadline in todo:
        await pacer.step()
        p = progress.get((unit.code, phase, period.end))
        if p is None:  # not under its root's snapshot: read it alone
            [p] = [x for x in await progress_snapshot(
                session, root_code=unit.code, phase=phase, now=now, period_end=period.end)
                if x.unit_code == unit.code]
        if p.status in ("late", "missing"):
            added = await insert_ignore(session, LateMark, [{
                "unit_code": unit.code, "phase": phase, "period_start": p.period_start,
                "period_end": p.period_end, "deadline": deadline, "kind": LATE, "marked_at": now,
                "details": {"status": p.status,
                            "submitted_at": p.submitted_at.isoformat() if p.submitted_at
                            else None}}], ["unit_code", "phase", "period_end", "kind"])
            if added:
                result.late_marked.append(unit.code)
            await _repeat_offender(session, now=now, unit=unit, p=p, cfg=cfg, result=result)
        await _lag(session, now=now, unit=unit, p=p, cfg=cfg, result=result)


async def _repeat_offender(session: AsyncSession, *, now: datetime, unit: Unit, p: UnitProgress,
                           cfg: EscalationConfig, result: EscalationResult) -> None:
    since = p.period_end - timedelta(days=cfg.repeat_days - 1)
    count = await session.scalar(select(func.count(LateMark.id)).where(
        LateMark.unit_code == unit.code, LateMark.kind == LATE,
        LateMark.period_end >= since, LateMark.period_end <= p.period_end)) or 0
    if count < cfg.repeat_times:
        return
    dates = (await session.scalars(select(LateMark.period_end).where(
        LateMark.unit_code == unit.code, LateMark.kind == LATE, LateMark.period_end >= since,
        LateMark.period_end <= p.period_end).order_by(LateMark.period_end))).all()
    leaders = await leaders_above(session, unit)
    n = await notify(session, now=now, users=leaders, kind="escalation",
                     template="notices/summons.html.j2",
                     key=f"summons:{unit.code}:{p.phase}:{p.period_end}", unit=unit,
                     count=int(count), days=cfg.repeat_days, dates=list(dates))
    await _record(session, p, "summons", now, n)
    result.summoned.append(unit.code)
    result.enqueued += n


async def _lag(session: AsyncSession, *, now: datetime, unit: Unit, p: UnitProgress,
               cfg: EscalationConfig, result: EscalationResult) -> None:
    plan = cfg.plans.get(p.phase)
    if plan is None or p.completion_rate is None:
        return
    planned = plan.at(p.period_end)
    gap = planned - p.completion_rate
    if gap <= cfg.lag_points:
        return
    added = await insert_ignore(session, LateMark, [{
        "unit_code": unit.code, "phase": p.phase, "period_start": p.period_start,
        "period_end": p.period_end, "deadline": p.deadline, "kind": LAG, "marked_at": now,
        "details": {"rate": round(p.completion_rate, 1), "plan": round(planned, 1),
                    "gap": round(gap, 1)}}], ["unit_code", "phase", "period_end", "kind"])
    if added:
        result.lag_marked.append(unit.code)
    heads = await office_heads(session, unit.code)
    n = await notify(session, now=now, users=heads, kind="escalation",
                     template="notices/behind_plan.html.j2",
                     key=f"lag:{unit.code}:{p.phase}:{p.period_end}", unit=unit,
                     rate=round(p.completion_rate, 1), plan=round(planned, 1),
                     gap=round(gap, 1), period_end=p.period_end)
    await _record(session, p, "lag", now, n)
    if unit.parent_code:  # the office above may issue a supervision order in one tap
        await offer_order(session, now=now, users=await office_heads(session, unit.parent_code),
                          unit=unit, reason="lag", day=p.period_end)
    result.enqueued += n


async def late_marks(session: AsyncSession, *, since: date, until: date,
                     kind: str | None = None) -> list[LateMark]:
    """Marks for periods ending in [since, until] (for the bulletin), unit order."""
    stmt = select(LateMark).where(LateMark.period_end >= since, LateMark.period_end <= until)
    if kind:
        stmt = stmt.where(LateMark.kind == kind)
    return list((await session.scalars(stmt.order_by(LateMark.unit_code,
                                                     LateMark.period_end))).all())
