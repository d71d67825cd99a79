"""Gather a bulletin's facts from the reports: `collect(session, series, period, now)`.

Progress comes from `bot.services.reports.progress.progress_snapshot` (one snapshot per day of the
period and of the earlier weeks looked at for repeat offenders); late and missing reports are
counted from the snapshots' statuses; "change since" is against the previous published
bulletin of the series (or, before the first one, the day before the period).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.bulletins import PUBLISHED, Bulletin, BulletinSeries
from bot.db.models.org import Unit
from bot.services.bulletins.content import (
    LATE,
    MISSING,
    BulletinData,
    SourceLine,
    UnitLine,
)
from bot.services.reports.progress import UnitProgress, progress_snapshot
from bot.services.reports.templates import get_template
from bot.services.shared.errors import DomainError


async def overdue_orders_for_bulletin(session: AsyncSession, root_path: str,
                                      now: datetime) -> list[dict[str, str]]:
    """Supervision orders overdue under the root (named in the bulletin)."""
    from bot.services.supervision.hooks import overdue_orders_for_bulletin as found

    return await found(session, root_path, now)


def accepted_only_series(series_id: str) -> bool:
    """Whether the series counts report versions accepted in review only (data/supervision.yaml)."""
    from bot.services.reports.templates import data_dir
    from bot.services.supervision.config import load_config

    return series_id in load_config(data_dir()).accepted_only_series


def _rate(p: UnitProgress | None) -> float | None:
    if p is None or p.completion_rate is None:
        return None
    return p.completion_rate / 100.0


def _source_label(label: str, sep: str) -> str:
    return label.split(sep)[0].strip() or label


async def _previous_rates(session: AsyncSession, series_id: str,
                          start: date) -> dict[str, float | None] | None:
    prev = (await session.scalars(select(Bulletin).where(
        Bulletin.series_id == series_id, Bulletin.state == PUBLISHED,
        Bulletin.period_start < start).order_by(Bulletin.period_start.desc(),
                                                Bulletin.number.desc()))).first()
    if prev is None:
        return None
    return {u["code"]: u.get("completion_rate") for u in prev.data.get("units", [])}


async def collect(session: AsyncSession, series: BulletinSeries, period: tuple[date, date],
                  now: datetime) -> BulletinData:
    """The facts of `period` for the series' root and phase, judged at `now`."""
    from bot.services.bulletins.config import plan_rate, series_config

    cfg = series_config(series)
    root = await session.get(Unit, series.root_code)
    if root is None:
        raise DomainError("Unit %(unit)s is not loaded.", unit=series.root_code)
    start, end = period
    accepted_only = accepted_only_series(series.id)  # review (审核): accepted figures only
    window = max(cfg.repeat_window, 1)
    first_day = start - timedelta(days=7 * (window - 1))
    # unit -> period_start -> progress, for every reporting period touching the window
    history: dict[str, dict[date, UnitProgress]] = {}
    last: dict[str, UnitProgress] = {}
    day = first_day
    while day <= end:
        for p in await progress_snapshot(session, root_code=series.root_code, phase=series.phase,
                                         now=now, period_end=day, accepted_only=accepted_only):
            history.setdefault(p.unit_code, {})[p.period_start] = p
            if day == end:
                last[p.unit_code] = p
        day += timedelta(days=1)
    before = {p.unit_code: p for p in await progress_snapshot(
        session, root_code=series.root_code, phase=series.phase, now=now,
        period_end=start - timedelta(days=1), accepted_only=accepted_only)}
    previous_bulletin = await _previous_rates(session, series.id, start)

    def offences(code: str, lo: date, hi: date) -> tuple[int, int]:
        periods = [p for p in history.get(code, {}).values() if lo <= p.period_end <= hi]
        return (sum(p.status == LATE for p in periods), sum(p.status == MISSING for p in periods))

    units = []
    for code, p in last.items():
        late, missing = offences(code, start, end)
        offence_weeks = 0
        if late or missing:
            for k in range(window):
                lo, hi = start - timedelta(days=7 * k), end - timedelta(days=7 * k)
                if cfg.start is not None and hi < cfg.start:
                    break  # no reporting before the series started
                if sum(offences(code, lo, hi)):
                    offence_weeks += 1
        if previous_bulletin is not None:
            previous = previous_bulletin.get(code)
        else:
            previous = _rate(before.get(code))
        units.append(UnitLine(
            code=code, name=p.name, name_en=p.name_en, status=p.status,
            completion_rate=_rate(p), previous_rate=previous, submitted_at=p.submitted_at,
            late_count=late, missing_count=missing, offence_periods=offence_weeks))

    template = get_template(series.phase)
    sources = []
    seen: set[str] = set()
    for f in template.fields:
        if not f.counted or not f.target or f.target in seen:
            continue
        seen.add(f.target)
        done = sum(p.values.get(f.key, 0.0) for p in last.values())
        target = sum(p.targets.get(f.target, 0.0) for p in last.values())
        new_found = sum(p.new_found.get(f.target, 0.0) for p in last.values())
        sources.append(SourceLine(f.target, _source_label(f.label, " "),
                                  _source_label(f.label_en, " - "), done, target, new_found))
    return BulletinData(
        series_id=series.id, title_zh=series.title_zh, title_en=series.title_en,
        root_code=root.code, root_name=root.name, root_name_en=root.name_en,
        phase=series.phase, period_start=start, period_end=end, as_of=now,
        plan_rate=plan_rate(cfg, end), sources=tuple(sources), units=tuple(units),
        praise_count=cfg.praise_count, lag_margin=cfg.lag_margin,
        repeat_threshold=cfg.repeat_threshold, table_in_message_max=cfg.table_in_message_max,
        extra={"overdue_orders": await overdue_orders_for_bulletin(session, root.path, now)},
    )
