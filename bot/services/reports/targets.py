"""Targets changed in chat by an office head, with their history (who, when, old → new)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.reports import ReportTarget, ReportTargetChange
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.reports.cadence import Assignment
from bot.services.reports.submission import assignment_for, targets_for_units
from bot.services.reports.templates import N_, VALUE_MAX, ReportTemplate, fmt, get_template
from bot.services.shared import audit
from bot.services.shared.errors import DomainError


def resolve_key(template: ReportTemplate, word: str) -> str | None:
    """A target key from what the head typed: the key itself or a field's name or alias."""
    folded = word.strip().casefold()
    for f in template.fields:
        if not f.target:
            continue
        names = {f.target, f.key, f.label, f.label_en, *f.aliases}
        if folded in {n.casefold() for n in names}:
            return f.target
    return None


async def head_assignment(session: AsyncSession, principal: Principal | None, unit_code: str,
                          phase: str) -> Assignment:
    """The assignment if the user is an office head over the unit; DomainError otherwise."""
    return await assignment_for(
        session, principal, unit_code, phase, OFFICE_ROLES,
        N_("Only an office head above %(unit)s can change its targets."))


@dataclass(frozen=True)
class TargetChange:
    """A change just made: the unit, key, old and new value."""

    unit_name: str
    key: str
    old: float | None
    new: float


async def set_target(session: AsyncSession, *, principal: Principal | None, unit_code: str,
                     phase: str, key: str, value: float, now: datetime) -> TargetChange:
    """Change one target of a unit, keeping the history; the caller commits."""
    found = await head_assignment(session, principal, unit_code, phase)
    assert principal is not None
    template = get_template(phase)
    if key not in {f.target for f in template.fields if f.target}:
        raise DomainError("Target: %(key)s is not a target of this table.", key=key)
    if value < 0 or value > VALUE_MAX or not float(value).is_integer():
        raise DomainError("Target: a whole number of at least 0 is expected.")
    old = (await targets_for_units(session, [found.unit], phase))[unit_code].get(key)
    if old is not None and float(old) == float(value):
        raise DomainError("Nothing changed: the target is already %(value)s.",
                          value=fmt(value))
    row = await session.scalar(select(ReportTarget).where(
        ReportTarget.unit_code == unit_code, ReportTarget.phase == phase,
        ReportTarget.key == key))
    source = f"chat:{principal.user_id}"
    if row is None:
        session.add(ReportTarget(unit_code=unit_code, phase=phase, key=key, value=float(value),
                                 source=source, updated_at=now))
    else:
        row.value, row.source, row.updated_at = float(value), source, now
    session.add(ReportTargetChange(unit_code=unit_code, phase=phase, key=key, old_value=old,
                                   new_value=float(value), changed_by=principal.user_id,
                                   changed_at=now))
    audit.record(session, now=now, action="report.target_change",
                 actor_user_id=principal.user_id, object_type="target",
                 object_id=f"{unit_code}/{phase}/{key}", old=old, new=float(value))
    await session.flush()
    return TargetChange(found.unit.name, key, old, float(value))


async def history(session: AsyncSession, unit_code: str, phase: str,
                  limit: int = 10) -> Sequence[ReportTargetChange]:
    """The latest target changes of a unit for a phase, newest first."""
    return (await session.scalars(
        select(ReportTargetChange)
        .where(ReportTargetChange.unit_code == unit_code, ReportTargetChange.phase == phase)
        .order_by(ReportTargetChange.changed_at.desc(), ReportTargetChange.id.desc())
        .limit(limit))).all()
