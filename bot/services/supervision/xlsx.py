"""XLSX of the supervision orders, interview actions and interviews in a user's scope.

Cells people typed are written as text with spreadsheet formula characters neutralised
(`bot.services.shared.safe_cells`), so that an order or answer starting with "=" never runs as a
formula.
"""

from __future__ import annotations

import io
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.supervision import Interview
from bot.i18n import Translator
from bot.services.access.principal import Principal
from bot.services.shared.safe_cells import safe_text as text_cell
from bot.services.supervision.config import SupervisionConfig
from bot.services.supervision.orders import local, open_in_scope


async def build_orders_xlsx(session: AsyncSession, principal: Principal,
                            cfg: SupervisionConfig, t: Translator, *, now: datetime) -> bytes:
    """Two sheets: orders and actions (with state, dates, answer), and interviews."""
    from openpyxl import Workbook  # imported here: start-up does not need it

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t("Supervision orders")
    states = {"issued": t("not acknowledged yet"), "acknowledged": t("acknowledged, being handled"),
              "answered": t("answered, awaiting the issuer"),
              "returned": t("returned, to be answered again"), "closed": t("closed, done")}
    ws.append([t("Order id"), t("Reference number"), t("Order kind"), t("Unit"),
               t("Issued by office"), t("Order state"), t("Issued at"), t("Answer due at"),
               t("Acknowledged at"), t("Answered at"), t("Closed at"), t("Order text"),
               t("Answer text")])
    for v in await open_in_scope(session, principal, cfg, include_closed=True, limit=5000):
        o = v.order
        ws.append([o.id, v.ref(t.locale),
                   t("supervision order") if o.kind == "order" else t("interview action"),
                   text_cell(v.unit.display_name(t.locale)),
                   text_cell(v.office.display_name(t.locale)), states.get(o.state, o.state),
                   local(o.created_at),
                   local(o.due_at), local(o.acknowledged_at) if o.acknowledged_at else "",
                   local(o.answered_at) if o.answered_at else "",
                   local(o.closed_at) if o.closed_at else "", text_cell(o.text),
                   text_cell(o.answer_text or "")])
    iv = wb.create_sheet(t("Interviews held"))
    iv.append([t("Interview id"), t("Unit"), t("Person called in"), t("Interview time"),
               t("Recorded at")])
    paths = [g.unit_path for g in principal.grants]
    scope = select(Unit.code).where(or_(*[Unit.path.startswith(p) for p in paths]))
    rows = (await session.execute(
        select(Interview, Unit).join(Unit, Unit.code == Interview.unit_code)
        .where(Interview.unit_code.in_(scope)).order_by(Interview.held_at))).all()
    for i, unit in rows:
        iv.append([i.id, text_cell(unit.display_name(t.locale)), text_cell(i.who),
                   local(i.held_at), local(i.created_at)])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
