"""Order numbers (督办文号): gapless per issuing office and year, e.g. 郑普办督〔2018〕3号.

The number is taken in the transaction that inserts the order: the counter row is created if
missing (INSERT ... ON CONFLICT DO NOTHING), then incremented with `UPDATE ... RETURNING`,
which holds its row lock (PostgreSQL) or the write lock (SQLite) until the commit. A rollback
gives the number back; UNIQUE(issuer_unit_code, year, number) backs it up.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.supervision import OrderCounter
from bot.db.upsert import insert_ignore
from bot.services.supervision.config import SupervisionConfig


async def take(session: AsyncSession, unit_code: str, year: int) -> int:
    """The next number of `unit_code`'s orders in `year` (in the caller's transaction)."""
    await insert_ignore(session, OrderCounter, [{"unit_code": unit_code, "year": year,
                                                  "next_number": 1}], ["unit_code", "year"])
    new_next = (await session.execute(
        update(OrderCounter).where(OrderCounter.unit_code == unit_code,
                                   OrderCounter.year == year)
        .values(next_number=OrderCounter.next_number + 1)
        .returning(OrderCounter.next_number)
        .execution_options(synchronize_session=False))).scalar_one()
    return int(new_next) - 1


def label(cfg: SupervisionConfig, office: Unit, year: int, number: int | None,
          locale: str) -> str:
    """The order's reference as people write it, in the reader's language."""
    if number is None:
        return ""
    prefix = cfg.prefix(office, locale)
    if locale.startswith("en"):
        return f"{prefix} Order [{year}] No. {number}"
    return f"{prefix}督〔{year}〕{number}号"
