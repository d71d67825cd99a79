"""Job registry: every module in this package defines `JOB = JobSpec(...)`; found by name.

A job takes a context (session factory, settings) and an explicit aware `now`, decides, and
enqueues notices keyed so that a rerun for the same period adds nothing. `censusbot jobs run NAME
--now ISO8601` and the scheduler both call `run(ctx, now)`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings


@dataclass
class JobContext:
    """What a job may use: the database and the settings."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings


@dataclass
class JobResult:
    """What a run did: how many notices it queued, and anything worth printing."""

    enqueued: int = 0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSpec:
    """A named job and its coroutine."""

    name: str
    run: Callable[[JobContext, datetime], Awaitable[JobResult]]
    description: str = ""


def all_jobs() -> dict[str, JobSpec]:
    """Every job defined in this package, by name."""
    jobs: dict[str, JobSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        spec = getattr(mod, "JOB", None)
        if isinstance(spec, JobSpec):
            jobs[spec.name] = spec
    return dict(sorted(jobs.items()))
