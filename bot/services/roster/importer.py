"""Roster import: validate a CSV/XLSX staff list row by row and upsert the good rows by staff_id.

Rules (product.md section 4):
- Header row with English names or Chinese aliases, matched ignoring case, spaces, `_` and `-`.
  Up to 10 title rows above the header are skipped; rows starting with `#` are comments.
  Columns that are not roster columns are ignored (and reported).
- Every row is validated; a rejected row names its row number, column and rule. The good rows
  are imported in one transaction; a file-level problem raises RosterFileError and changes nothing.
- A staff_id repeated in the file: if every occurrence carries the same values, the first is
  imported and the repeats are rejected as duplicates; if the occurrences differ, ALL of them are
  rejected (we cannot tell which is right, and an identity registry must not guess).
- An empty `status` keeps an existing record's status (so re-importing an old file never
  re-activates a revoked worker) and means `active` for a new record. An empty `org` or
  `valid_to` clears it; a column absent from the file leaves the stored values alone.
- Records not in the file are left alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.repo import staff as staff_repo
from bot.db.repo import units as units_repo
from bot.services.roster import grants as roster_grants
from bot.services.roster.files import RosterFileError
from bot.services.roster.rows import (
    COLUMNS,
    REQUIRED,
    ImportResult,
    Problem,
    RowOutcome,
    clean_row,
    find_duplicates,
    map_header,
    normalize_staff_id,
    parse_date,
    parse_phone,
    parse_roster,
)
from bot.services.shared import audit

__all__ = [
    "COLUMNS", "REQUIRED", "ImportResult", "Problem", "RosterFileError", "RowOutcome",
    "clean_row", "import_roster", "map_header", "normalize_staff_id", "parse_date",
    "parse_phone", "parse_roster",
]


async def import_roster(
    session: AsyncSession,
    data: bytes,
    *,
    now: datetime,
    file_name: str = "",
    actor_user_id: int | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Validate a roster file and upsert its good rows in one transaction (the caller commits).

    Raises RosterFileError (nothing changed) when the file itself is unusable.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    parsed = parse_roster(data)
    unit_codes = await units_repo.all_codes(session)
    cleaned = []
    for number, raw in parsed.rows:
        values, problems = clean_row(number, raw, unit_codes=unit_codes, headings=parsed.columns)
        cleaned.append((number, values, problems))
    find_duplicates(cleaned, parsed.columns)
    existing = await staff_repo.roster_values(
        session, (v["staff_id"] for _n, v, p in cleaned if not p))
    outcomes: list[RowOutcome] = []
    writes: list[dict[str, Any]] = []
    for number, values, problems in cleaned:
        sid: str = values.get("staff_id") or ""
        if problems:
            outcomes.append(RowOutcome(row=number, staff_id=sid or None, outcome="rejected",
                                       reasons=problems))
            continue
        current = existing.get(sid)
        record = dict(current) if current else {"org": None, "valid_to": None,
                                                "status": "active"}
        for col, value in values.items():
            if col == "staff_id" or (col == "status" and value is None):
                continue
            record[col] = value
        if current is None:
            writes.append({"staff_id": sid, **record, "created_at": now, "updated_at": now})
            outcomes.append(RowOutcome(row=number, staff_id=sid, outcome="created"))
            continue
        changed = tuple(f for f in staff_repo.ROSTER_FIELDS if record[f] != current[f])
        if changed:
            writes.append({"staff_id": sid, **record, "created_at": now, "updated_at": now})
            outcomes.append(RowOutcome(row=number, staff_id=sid, outcome="updated",
                                       changed=changed))
        else:
            outcomes.append(RowOutcome(row=number, staff_id=sid, outcome="unchanged"))
    result = ImportResult(file_name=file_name, kind=parsed.kind, columns=parsed.columns,
                          ignored_columns=parsed.ignored_columns, outcomes=outcomes,
                          dry_run=dry_run, known_units=len(unit_codes), sheet=parsed.sheet,
                          encoding=parsed.encoding)
    if dry_run:  # nothing written: the caller ends its read
        return result
    await staff_repo.upsert_many(session, writes)
    # Roles bound through a record follow it: role, unit and status changes take effect
    # for the bound account at once (and a revoked record loses its binding).
    await roster_grants.resync_records(
        session, now=now, actor_user_id=actor_user_id,
        staff_ids=[o.staff_id for o in outcomes
                   if o.outcome == "updated" and o.staff_id
                   and {"role", "unit_code", "status"} & set(o.changed)])
    audit.record(session, now=now, action="staff.import", actor_user_id=actor_user_id,
                 object_type="roster", object_id=file_name[-128:] or None,
                 file_name=file_name, rows=len(outcomes), created=result.created,
                 updated=result.updated, unchanged=result.unchanged,
                 rejected=result.rejected)
    await session.flush()
    return result
