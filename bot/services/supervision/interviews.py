"""Interviews (约谈): a repeat offender's office is offered to call its head in; the interview
records who, when and the agreed actions, and each action becomes a follow-up (an order of
kind "action") that reminds and escalates like an order.

A repeat offender is a unit marked late or behind plan (the escalation ladder's marks) at least
`repeat_offenders.times` times within `repeat_offenders.within_days` (data/escalation.yaml).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import InterviewOffer
from bot.db.models.org import Unit
from bot.db.models.scheduling import LateMark
from bot.db.models.supervision import ACTION, Interview
from bot.i18n import Translator
from bot.services.access.principal import Principal
from bot.services.deadlines.escalation import EscalationSettings, office_heads, root_of
from bot.services.shared import audit
from bot.services.shared.errors import DomainError
from bot.services.supervision.config import SupervisionConfig
from bot.services.supervision.notify import button, notify
from bot.services.supervision.orders import (
    SHANGHAI,
    OrderView,
    clean_text,
    due_on,
    issue,
    issuing_office,
    local,
    recipients,
)

ACTIONS_MAX = 10
WHEN_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})$")
ACTION_RE = re.compile(r"^(.*?)[\s,，;；:：—-]*(\d{4}-\d{2}-\d{2})$")


@dataclass(frozen=True)
class Offender:
    """A unit marked late or lagging too often, with its marks in the window."""

    unit: Unit
    marks: int
    latest: date
    marked_at: datetime


async def repeat_offenders(session: AsyncSession, *, now: datetime,
                           esc: EscalationSettings) -> list[Offender]:
    """Units with enough late or behind-plan marks in the configured window up to now."""
    today = now.astimezone(SHANGHAI).date()
    longest = max([esc.default.repeat_days, *(c.repeat_days for c in esc.by_root.values())])
    since = today - timedelta(days=longest)
    rows = (await session.execute(
        select(LateMark.unit_code, LateMark.period_end, LateMark.marked_at).where(
            LateMark.period_end >= since, LateMark.period_end <= today)
    )).all()
    by_unit: dict[str, set[date]] = {}
    marked: dict[str, datetime] = {}
    for code, day, when in rows:
        by_unit.setdefault(code, set()).add(day)
        marked[code] = max(marked.get(code, when), when)
    out = []
    for code in sorted(by_unit):
        unit = await session.get(Unit, code)
        if unit is None:
            continue
        cfg = esc.for_root(root_of(unit.path))
        days = {d for d in by_unit[code] if d > today - timedelta(days=cfg.repeat_days)}
        if len(days) >= cfg.repeat_times:
            out.append(Offender(unit, len(days), max(days), marked[code]))
    return out


def offer_markup(unit_code: str) -> Any:
    """The "schedule an interview" button for a repeat offender's office."""
    def build(t: Translator) -> dict[str, Any]:
        return {"inline_keyboard": [[button(t("Schedule interview"),
                                            InterviewOffer(unit_code).pack())]]}
    return build


async def offer(session: AsyncSession, *, now: datetime, esc: EscalationSettings,
                send_at: datetime | None = None) -> list[str]:
    """Offer each repeat offender's parent office to schedule an interview (once per latest
    mark); caller commits. Returns the units offered."""
    offered = []
    for o in await repeat_offenders(session, now=now, esc=esc):
        if not o.unit.parent_code:
            continue
        heads = await office_heads(session, o.unit.parent_code)
        n = await notify(session, now=now, send_at=min(send_at or now, o.marked_at),
                         users=heads, kind="interview",
                         key=f"iv-offer:{o.unit.code}:{o.latest.isoformat()}",
                         template="supervision/interview_offer.html.j2",
                         markup=offer_markup(o.unit.code), unit=o.unit, marks=o.marks)
        if n:
            offered.append(o.unit.code)
    return offered


@dataclass(frozen=True)
class Form:
    """A parsed interview form."""

    who: str
    held_at: datetime
    actions: list[tuple[str, date]]


def parse_form(text: str) -> Form:
    """Line 1 who, line 2 when (YYYY-MM-DD HH:MM), then one agreed action a line, each ending
    with its due date; DomainError names the line and the rule."""
    lines = [ln.strip() for ln in clean_text(text, 4000).splitlines() if ln.strip()]
    if len(lines) < 3:
        raise DomainError("The interview needs at least three lines: who, when "
                          "(YYYY-MM-DD HH:MM), and one agreed action with its due date.",
                          retry=True)
    who = lines[0][:200]
    m = WHEN_RE.match(lines[1])
    try:
        if m is None:
            raise ValueError
        day = date.fromisoformat(m.group(1))
        held = datetime(day.year, day.month, day.day, int(m.group(2)), int(m.group(3)),
                        tzinfo=SHANGHAI)
    except ValueError:
        raise DomainError("Line 2 must be the time of the interview as YYYY-MM-DD HH:MM, "
                          "e.g. 2018-10-20 09:00.", retry=True) from None
    actions = []
    for i, line in enumerate(lines[2:], start=3):
        a = ACTION_RE.match(line)
        try:
            if a is None or not a.group(1).strip():
                raise ValueError
            actions.append((a.group(1).strip(), date.fromisoformat(a.group(2))))
        except ValueError:
            raise DomainError("Line %(line)s must be an agreed action ending with its due date "
                              "(YYYY-MM-DD), e.g. \"补齐缺报数据 2018-10-25\".", line=i,
                              retry=True) from None
    if len(actions) > ACTIONS_MAX:
        raise DomainError("At most %(max)s actions per interview.", max=ACTIONS_MAX,
                          retry=True)
    return Form(who, held, actions)


@dataclass
class Scheduled:
    """A recorded interview and its follow-up actions."""

    interview: Interview
    unit: Unit
    actions: list[OrderView]


async def schedule(session: AsyncSession, *, principal: Principal | None, unit_code: str,
                   text: str, now: datetime, cfg: SupervisionConfig) -> Scheduled:
    """Record an interview of a unit below the user's office; its actions become follow-ups
    sent to the unit with acknowledge buttons; the caller commits."""
    unit = await session.get(Unit, unit_code)
    if unit is None:
        raise DomainError("There is no unit with code %(code)s.", code=unit_code[:32])
    office = issuing_office(principal, unit)
    if office is None or principal is None:
        raise DomainError("%(unit)s is not in your office's area: you can issue orders only "
                          "to units below your own office.", unit=unit.name)
    form = parse_form(text)
    for _, due in form.actions:
        if due < now.astimezone(SHANGHAI).date():
            raise DomainError("The due date %(date)s has passed: give a later date.",
                              date=due.isoformat(), retry=True)
    iv = Interview(unit_code=unit.code, office_unit_code=office, who=form.who,
                   held_at=form.held_at, created_by=principal.user_id, created_at=now)
    session.add(iv)
    await session.flush()
    await notify(session, now=now, users=await recipients(session, unit.code),
                 kind="interview", key=f"interview:{iv.id}",
                 template="supervision/interview_notice.html.j2", unit=unit, who=form.who,
                 when=local(form.held_at),
                 actions=[{"text": a, "due": local(due_on(d))} for a, d in form.actions])
    views = []
    for text_, due in form.actions:
        out = await issue(session, principal=principal, unit_code=unit.code, text=text_,
                          now=now, cfg=cfg, due=due, origin="interview", kind=ACTION,
                          interview_id=iv.id, office_code=office)
        views.append(out.view)
    audit.record(session, now=now, action="interview.schedule", actor_user_id=principal.user_id,
                 object_type="interview", object_id=str(iv.id), unit_code=unit.code,
                 actions=len(views))
    await session.flush()
    return Scheduled(iv, unit, views)


async def count_for(session: AsyncSession, unit_code: str) -> int:
    """How many interviews a unit has had."""
    return int(await session.scalar(select(func.count(Interview.id)).where(
        Interview.unit_code == unit_code)) or 0)
