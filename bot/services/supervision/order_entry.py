"""What /order, /orders and the one-tap order buttons need beyond the orders service: reading
the command's words, the text a one-tap order carries, and the rows of the open-orders list.
Plain data in, plain data out (handlers/orders.py renders)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import NewOrder
from bot.db.models.org import Unit
from bot.services.access.principal import Principal
from bot.services.shared.errors import DomainError
from bot.services.supervision import orders as svc
from bot.services.supervision.config import SupervisionConfig

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
LIST_MAX = 50


def N_(message: str) -> str:
    """Mark a message id for extraction; translated where it is used."""
    return message


OFFER_TEXTS = {
    "late": N_("%(unit)s did not submit the progress report for %(date)s on time. Submit "
               "it, explain the delay in writing and say how it will not happen again."),
    "lag": N_("%(unit)s is behind the census plan (%(date)s). Report in writing the "
              "reasons and the measures and dates to catch up."),
    "rev": N_("The report of %(unit)s for %(date)s was returned. Correct it as commented "
              "and submit it again."),
}


@dataclass(frozen=True)
class OrderCommand:
    """/order UNIT_CODE [YYYY-MM-DD] TEXT, read."""

    unit_code: str
    due: date | None
    text: str


def parse_order(args: str | None) -> OrderCommand | None:
    """The unit, due date and text of /order; None when too few words (show the usage);
    DomainError for a due date that is no date."""
    parts = (args or "").split(maxsplit=1)
    if len(parts) < 2:
        return None
    code, rest = parts
    due: date | None = None
    first, _, remainder = rest.partition(" ")
    if DATE_RE.match(first):
        try:
            due = date.fromisoformat(first)
        except ValueError:
            raise DomainError("The due date %(date)s is not a date: write it as YYYY-MM-DD, "
                              "e.g. 2018-10-20.", date=first) from None
        rest = remainder
    return OrderCommand(code, due, rest)


async def issue_offered(session: AsyncSession, offer: NewOrder, *,
                        principal: Principal | None, t: Any, now: datetime,
                        cfg: SupervisionConfig) -> svc.Issued:
    """The order a notice's one-tap button offers (late, lag, rev), in the issuer's language,
    issued once per office (its origin key)."""
    unit = await session.get(Unit, offer.unit_code)
    unit_name = unit.display_name(t.locale) if unit is not None else offer.unit_code
    office = svc.issuing_office(principal, unit) if unit is not None else None
    text = t(OFFER_TEXTS[offer.reason]) % {"unit": unit_name, "date": offer.ref}
    return await svc.issue(
        session, principal=principal, unit_code=offer.unit_code, text=text, now=now, cfg=cfg,
        origin=offer.reason,
        origin_key=f"{offer.reason}:{offer.unit_code}:{offer.ref}:{office}")


def _age(delta: timedelta) -> dict[str, int]:
    hours = int(delta.total_seconds() // 3600)
    return {"days": hours // 24, "hours": hours % 24}


async def open_rows(session: AsyncSession, principal: Principal | None,
                    cfg: SupervisionConfig, now: datetime) -> list[dict[str, Any]]:
    """The open orders in the user's scope: context, age and whether overdue."""
    views = await svc.open_in_scope(session, principal, cfg)
    return [{"ctx": v.context(), "age": _age(now - v.order.created_at),
             "overdue": v.order.due_at < now} for v in views]
