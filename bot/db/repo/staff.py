"""Queries and bulk writes on the staff roster (never commits)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.db.fixed_sets import in_batch
from bot.db.models.org import Unit
from bot.db.models.staff import Staff
from bot.db.repo import units as units_repo

ROSTER_FIELDS = ("name", "role", "unit_code", "phone", "org", "valid_to", "status")
LOOKUP_CHUNK = 2000  # ids per IN (...) query: well under SQLite's and asyncpg's parameter caps
WRITE_CHUNK = 1000  # rows per executemany batch


async def get(session: AsyncSession, staff_id: str) -> Staff | None:
    """The staff record with this id, or None."""
    return await session.get(Staff, staff_id)


async def with_chains(
    session: AsyncSession, staff_ids: Iterable[str]
) -> dict[str, tuple[Staff, tuple[Unit, ...]]]:
    """Every existing record among `staff_ids` with its unit and the units above it (root
    first), keyed by staff_id: one statement for all of them."""
    ids = sorted(set(staff_ids))
    found: dict[str, tuple[Staff, list[Unit]]] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        rows = await session.execute(_with_chains_stmt(session.get_bind().dialect.name),
                                     {"ids": ids[start:start + LOOKUP_CHUNK]})
        for staff, unit in rows:
            chain = found.setdefault(staff.staff_id, (staff, []))[1]
            if unit is not None:
                chain.append(unit)
    return {sid: (staff, tuple(chain)) for sid, (staff, chain) in found.items()}


@lru_cache(maxsize=2)
def _with_chains_stmt(dialect: str) -> Any:
    """The statement of `with_chains` (the IDs are the batch parameter `ids`), built once per
    dialect."""
    own = aliased(Unit)
    return (
        select(Staff, Unit).select_from(Staff)
        .outerjoin(own, own.code == Staff.unit_code)
        .outerjoin(Unit, units_repo.at_or_above(Unit, own))
        .where(in_batch(Staff.staff_id, "ids", dialect))
        .order_by(Staff.staff_id, func.length(Unit.path))
    )


async def roster_values(
    session: AsyncSession, staff_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The roster fields of every existing record among `staff_ids`, keyed by staff_id."""
    ids = list(dict.fromkeys(staff_ids))
    cols = [Staff.staff_id, *(getattr(Staff, f) for f in ROSTER_FIELDS)]
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start:start + LOOKUP_CHUNK]
        result = await session.execute(select(*cols).where(Staff.staff_id.in_(chunk)))
        for row in result:
            out[row[0]] = dict(zip(ROSTER_FIELDS, row[1:], strict=True))
    return out


async def upsert_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update records by staff_id in batches (INSERT ... ON CONFLICT DO UPDATE).

    Each row holds staff_id, the roster fields and updated_at; created_at is set only on insert
    (it is taken from the row) and telegram_user_id is never touched.
    """
    if not rows:
        return
    table: Table = Staff.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        ins: Any = postgresql.insert(table)
    elif dialect == "sqlite":
        ins = sqlite.insert(table)
    else:  # pragma: no cover - only the two supported backends
        raise NotImplementedError(f"roster upsert is not implemented for {dialect}")
    stmt = ins.on_conflict_do_update(
        index_elements=["staff_id"],
        set_={f: ins.excluded[f] for f in (*ROSTER_FIELDS, "updated_at")},
    )
    for start in range(0, len(rows), WRITE_CHUNK):
        await session.execute(stmt, list(rows[start:start + WRITE_CHUNK]))
