"""The scheduler: triggers derived from the units' deadlines; runs recorded per job and period.

APScheduler 3 (AsyncIOScheduler, Asia/Shanghai) fires CronTriggers with explicit ids such as
`reminders@16:00` and `escalations@18:00`. Whether a trigger already ran for a period (its local
date) is decided by the `job_runs` table, not by memory: after downtime, `catch_up` runs each
trigger missed within the grace period once. Triggers are re-derived from the data every few
minutes, so a changed deadline applies without a restart. One process schedules (a lease).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.lease import LeaseLock, make_lease
from bot.db.models.scheduling import JobRun
from bot.db.upsert import insert_ignore
from bot.services.deadlines.escalation import load_settings
from bot.util.clock import utc_now
from scheduling.jobs import JobContext, JobResult, JobSpec, all_jobs

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"
REDERIVE_MINUTES = 5


@dataclass(frozen=True)
class Trigger:
    """A job fired every day at a local time of day; id like 'escalations@18:00'."""

    job: str
    at: time

    @property
    def id(self) -> str:
        """The explicit APScheduler job id."""
        return f"{self.job}@{self.at.strftime('%H:%M')}"


def _shift(t: time, minutes: int) -> time:
    base = datetime.combine(datetime(2000, 1, 1).date(), t) + timedelta(minutes=minutes)
    return base.time()


async def deadlines_in_use(session: AsyncSession) -> set[time]:
    """Local deadline times of every unit's reporting assignment (data files re-read)."""
    from bot.services.reports import cadence

    clear = getattr(getattr(cadence, "_load_config", None), "cache_clear", None)
    if clear is not None:  # pick up edits of data/cadences.yaml without a restart
        clear()
    return {a.cadence.deadline for a in await cadence.assignments(session)}


PRIVACY_AT = time(3, 30)  # the nightly personal-data retention run (local time)


def derive_triggers(data_dir: Any, deadlines: set[time]) -> list[Trigger]:
    """Every trigger the deadlines and the escalation data call for."""
    esc = load_settings(data_dir)
    configs = [esc.default, *esc.by_root.values()]
    out: set[Trigger] = set()
    for deadline in deadlines:
        for cfg in configs:
            for minutes in cfg.reminders_before:
                out.add(Trigger("reminders", _shift(deadline, -minutes)))
            out.add(Trigger("escalations", _shift(deadline, cfg.deadline_after)))
            out.add(Trigger("escalations", _shift(deadline, cfg.parent_after)))
    for cfg in configs:
        out.add(Trigger("escalations", cfg.bulletin_at))
    out.add(Trigger("privacy", PRIVACY_AT))
    for hour in range(24):  # supervision orders' follow-up: hourly
        out.add(Trigger("orders", time(hour, 15)))
    return sorted(out, key=lambda t: (t.at, t.job))


class Scheduler:
    """Derives triggers, runs each once per period, catches up after downtime."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *,
                 clock: Callable[[], datetime] = utc_now, lease: LeaseLock | None = None,
                 grace: timedelta = timedelta(hours=12),
                 jobs: dict[str, JobSpec] | None = None,
                 on_enqueued: Callable[[], Any] | None = None) -> None:
        """Wire the database, the settings and the clock."""
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.clock = clock
        self.lease = lease
        self.grace = grace
        self.jobs = jobs if jobs is not None else all_jobs()
        self.on_enqueued = on_enqueued
        self.triggers: list[Trigger] = []
        self._aps: Any = None
        self._task: asyncio.Task[None] | None = None
        self._holding = False
        self._lock = asyncio.Lock()

    @property
    def tz(self) -> Any:
        """The scheduling zone (Asia/Shanghai)."""
        return self.settings.tz

    async def derive(self) -> list[Trigger]:
        """Re-read the data and keep the triggers whose job exists."""
        async with self.sessionmaker() as session:
            deadlines = await deadlines_in_use(session)
            await session.commit()
        self.triggers = [t for t in derive_triggers(self.settings.data_dir, deadlines)
                         if t.job in self.jobs]
        return self.triggers

    def last_fire(self, trigger: Trigger, now: datetime) -> datetime:
        """The latest time ≤ now at which `trigger` was due."""
        local = now.astimezone(self.tz)
        fire = datetime.combine(local.date(), trigger.at, tzinfo=self.tz)
        if fire > local:
            fire -= timedelta(days=1)
        return fire

    async def has_run(self, trigger: Trigger, period: str) -> bool:
        """Whether the database records a run of `trigger` for `period`."""
        async with self.sessionmaker() as session:
            found = await session.scalar(select(JobRun.id).where(
                JobRun.job_id == trigger.id, JobRun.period_key == period))
            await session.commit()
        return found is not None

    async def fire(self, trigger: Trigger, scheduled_for: datetime,
                   now: datetime | None = None) -> JobResult | None:
        """Run `trigger`'s job once for the period of `scheduled_for` (None if it already ran)."""
        async with self._lock:
            now = now or self.clock()
            period = scheduled_for.astimezone(self.tz).date().isoformat()
            if await self.has_run(trigger, period):
                return None
            spec = self.jobs[trigger.job]
            result = await spec.run(JobContext(self.sessionmaker, self.settings), now)
            async with self.sessionmaker() as session:
                await insert_ignore(session, JobRun, [{
                    "job_id": trigger.id, "period_key": period, "scheduled_for": scheduled_for,
                    "ran_at": now, "enqueued": result.enqueued,
                    "details": _jsonable(result.details)}], ["job_id", "period_key"])
                await session.commit()
            log.info("job %s for %s: %d notice(s) queued", trigger.id, period, result.enqueued)
            if result.enqueued and self.on_enqueued is not None:
                self.on_enqueued()
            return result

    async def catch_up(self, now: datetime | None = None) -> list[str]:
        """Run, once, every trigger whose last due time is within the grace and has not run."""
        now = now or self.clock()
        if not self.triggers:
            await self.derive()
        ran: list[str] = []
        for trigger in sorted(self.triggers, key=lambda t: self.last_fire(t, now)):
            fire = self.last_fire(trigger, now)
            if now - fire > self.grace:
                continue
            if await self.fire(trigger, fire, now) is not None:
                ran.append(trigger.id)
        return ran

    # ------------------------------------------------------------------ APScheduler
    async def start(self) -> None:
        """Schedule in the background (standing by while another process holds the lease)."""
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def _run(self) -> None:
        while True:
            try:
                got = True if self.lease is None else await self.lease.acquire()
                if got and not self._holding:
                    self._holding = True
                    await self._activate()
                elif not got and self._holding:
                    self._holding = False
                    self._shutdown_aps()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler lease/derive failed")
            await asyncio.sleep(min(10.0, self.settings.scheduler_lease_ttl / 3))

    async def _activate(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._aps = AsyncIOScheduler(timezone=self.tz, job_defaults={
            "coalesce": True, "misfire_grace_time": int(self.grace.total_seconds()),
            "max_instances": 1})
        self._aps.start()
        await self.resync()
        self._aps.add_job(self.resync, "interval", minutes=REDERIVE_MINUTES,
                          id="scheduler:rederive", replace_existing=True)
        log.info("scheduler active with %d trigger(s)", len(self.triggers))

    async def resync(self) -> None:
        """Re-derive the triggers, update APScheduler's jobs, run anything missed."""
        from apscheduler.triggers.cron import CronTrigger

        await self.derive()
        if self._aps is not None:
            wanted = {t.id: t for t in self.triggers}
            for job in self._aps.get_jobs():
                if job.id != "scheduler:rederive" and job.id not in wanted:
                    job.remove()
            for tid, trig in wanted.items():
                self._aps.add_job(self._fire_now, CronTrigger(
                    hour=trig.at.hour, minute=trig.at.minute, timezone=self.tz), args=[trig],
                    id=tid, replace_existing=True)
        await self.catch_up()

    async def _fire_now(self, trigger: Trigger) -> None:
        now = self.clock()
        try:
            await self.fire(trigger, self.last_fire(trigger, now), now)
        except Exception:
            log.exception("job %s failed", trigger.id)

    def _shutdown_aps(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None

    async def stop(self) -> None:
        """Stop scheduling and give up the lease."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._shutdown_aps()
        if self.lease is not None and self._holding:
            await self.lease.release()
        self._holding = False


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def make_scheduler(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession],
                   **kwargs: Any) -> Scheduler:
    """A scheduler holding the `scheduler` lease (Redis when REDIS_URL is set)."""
    lease = make_lease(sessionmaker, LEASE_NAME, redis_url=settings.redis_url,
                       ttl=settings.scheduler_lease_ttl)
    return Scheduler(sessionmaker, settings, lease=lease, **kwargs)
