""""Problems and needs" (存在问题及需求): each non-empty entry of a submitted report becomes an
item the parent office must answer by a due date; the answer reaches the county."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Supervision
from bot.db.models.org import Unit
from bot.db.models.reports import Report
from bot.db.models.supervision import PROBLEM_ANSWERED, PROBLEM_OPEN, ProblemItem
from bot.db.repo import users as users_repo
from bot.i18n import Translator
from bot.services.access.principal import Principal
from bot.services.shared import audit
from bot.services.shared.errors import DomainError
from bot.services.shared.outbox import office_heads_for
from bot.services.supervision.config import SupervisionConfig
from bot.services.supervision.notify import button, notify
from bot.services.supervision.orders import SHANGHAI, clean_text, due_on, local

FIELD = "problems"
OFFICE_ROLES = frozenset({"office_head", "admin"})


def answer_markup(item_id: int) -> Any:
    """The office's Answer button."""
    def build(t: Translator) -> dict[str, Any]:
        return {"inline_keyboard": [[button(t("Answer"), Supervision("pans", item_id).pack())]]}
    return build


async def received(session: AsyncSession, report: Report, unit: Unit, *, now: datetime,
                   cfg: SupervisionConfig) -> ProblemItem | None:
    """Track the report's "problems and needs" entry, if any, for the parent office and tell
    its office heads (caller's transaction)."""
    text = str(report.values.get(FIELD) or "").strip()
    if not text or not unit.parent_code:
        return None
    if report.version > 1:  # a correction repeating the same entry is not a new item
        earlier = await session.scalar(select(ProblemItem).join(
            Report, Report.id == ProblemItem.report_id).where(
            Report.unit_code == report.unit_code, Report.phase == report.phase,
            Report.period_start == report.period_start, ProblemItem.text == text[:2000]))
        if earlier is not None:
            return None
    due = due_on(now.astimezone(SHANGHAI).date() + timedelta(days=cfg.problem_answer_days))
    item = ProblemItem(report_id=report.id, unit_code=unit.code,
                       office_unit_code=unit.parent_code, text=text[:2000], state=PROBLEM_OPEN,
                       due_at=due, created_at=now)
    session.add(item)
    await session.flush()
    await notify(session, now=now, users=await office_heads_for(session, unit.parent_code),
                 kind="problem", key=f"problem:{item.id}", template="supervision/problem.html.j2",
                 markup=answer_markup(item.id), unit=unit, item=item, due=local(due),
                 period=report.period_end.isoformat())
    return item


async def load(session: AsyncSession, item_id: int, principal: Principal | None) -> ProblemItem:
    """An item this user (an office head of its office or above) may answer, still open."""
    item = await session.get(ProblemItem, item_id, populate_existing=True)
    if item is None:
        raise DomainError("There is no such item.")
    office = await session.get(Unit, item.office_unit_code)
    assert office is not None
    if principal is None or not principal.covers(OFFICE_ROLES, office.path):
        raise DomainError("Only the office heads of %(unit)s can answer this.", unit=office.name)
    if item.state == PROBLEM_ANSWERED:
        raise DomainError("This was already answered on %(when)s.",
                          when=local(item.answered_at or item.created_at))
    return item


async def answer(session: AsyncSession, item_id: int, *, principal: Principal | None,
                 text: str, now: datetime) -> ProblemItem:
    """Record the office's answer; it reaches the county's liaisons and office heads; commits."""
    item = await load(session, item_id, principal)
    body = clean_text(text)
    done = await session.execute(
        update(ProblemItem).where(ProblemItem.id == item.id, ProblemItem.state == PROBLEM_OPEN)
        .values(state=PROBLEM_ANSWERED, answer=body, answered_at=now,
                answered_by=principal.user_id if principal else None)
        .execution_options(synchronize_session=False))
    if getattr(done, "rowcount", 0) != 1:
        await session.rollback()
        await load(session, item_id, principal)
        raise DomainError("There is no such item.")
    await session.refresh(item)
    unit = await session.get(Unit, item.unit_code)
    office = await session.get(Unit, item.office_unit_code)
    people = set(await users_repo.holders(session, ["liaison", "office_head"], item.unit_code))
    await notify(session, now=now, users=sorted(people), kind="problem",
                 key=f"problem:{item.id}:answer", template="supervision/problem_answer.html.j2",
                 unit=unit, office=office, item=item)
    audit.record(session, now=now, action="problem.answer",
                 actor_user_id=principal.user_id if principal else None,
                 object_type="problem", object_id=str(item.id), unit_code=item.unit_code)
    await session.commit()
    return item


async def remind_overdue(session: AsyncSession, *, now: datetime,
                         send_at: datetime | None = None) -> list[int]:
    """Remind the office heads once of each item past its answer date (caller commits)."""
    items = (await session.scalars(select(ProblemItem).where(
        ProblemItem.state == PROBLEM_OPEN, ProblemItem.due_at <= now,
        ProblemItem.overdue_at.is_(None)).order_by(ProblemItem.id))).all()
    for item in items:
        unit = await session.get(Unit, item.unit_code)
        await notify(session, now=now, send_at=min(send_at or now, item.created_at),
                     users=await office_heads_for(session, item.office_unit_code),
                     kind="problem", key=f"problem:{item.id}:overdue",
                     template="supervision/problem.html.j2", markup=answer_markup(item.id),
                     unit=unit, item=item, due=local(item.due_at), overdue=True, period="")
        item.overdue_at = now
    return [i.id for i in items]
