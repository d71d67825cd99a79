"""Load an organisation tree (shared/data/*.yaml format) into units, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.services.shared import audit
from bot.services.shared.errors import DomainError

CORE_KEYS = {"code", "name", "name_en", "level", "children"}


@dataclass
class LoadResult:
    """How many units were created, changed and left as they were."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def read_tree(path: Path) -> dict[str, Any]:
    """Parse an organisation file; raise DomainError with the reason when it is unusable."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DomainError("Cannot read the organisation file: %(reason)s", reason=str(exc)) from exc
    if not isinstance(data, dict):
        raise DomainError("The organisation file must hold one unit with code, name and level.")
    return data


def flatten(node: dict[str, Any], parent: Unit | None = None) -> list[Unit]:
    """Turn the nested tree into Unit rows with materialised paths, checking each node."""
    out: list[Unit] = []
    seen: set[str] = set()

    def walk(n: Any, parent_code: str | None, parent_path: str, depth: int) -> None:
        if not isinstance(n, dict):
            raise DomainError("Every unit must be a mapping with code, name and level.")
        code = str(n.get("code") or "").strip()
        name = str(n.get("name") or "").strip()
        level = str(n.get("level") or "").strip()
        if not code or not name or not level:
            raise DomainError(
                "Unit %(code)s: code, name and level are required.", code=code or "(no code)"
            )
        if "/" in code or code in seen:
            raise DomainError("Unit code %(code)s is repeated or malformed.", code=code)
        seen.add(code)
        path = f"{parent_path}{code}/"
        extra = _jsonable({k: v for k, v in n.items() if k not in CORE_KEYS})
        out.append(
            Unit(code=code, parent_code=parent_code, name=name, name_en=n.get("name_en"),
                 level=level, path=path, depth=depth, extra=extra)
        )
        for child in n.get("children") or []:
            walk(child, code, path, depth + 1)

    walk(node, parent.code if parent else None, parent.path if parent else "/",
         parent.depth + 1 if parent else 0)
    return out


async def load_tree(
    session: AsyncSession, tree: dict[str, Any], *, now: datetime, actor_user_id: int | None = None
) -> LoadResult:
    """Upsert every unit of the tree in one transaction; loading twice changes nothing."""
    root_parent_code = tree.get("parent")
    parent = await session.get(Unit, str(root_parent_code)) if root_parent_code else None
    rows = flatten(tree, parent)
    existing = {
        u.code: u
        for u in await session.scalars(select(Unit).where(Unit.code.in_([r.code for r in rows])))
    }
    result = LoadResult()
    fields = ("parent_code", "name", "name_en", "level", "path", "depth", "extra")
    for row in rows:  # parents come before children, so foreign keys hold
        current = existing.get(row.code)
        if current is None:
            row.updated_at = now
            session.add(row)
            await session.flush()
            result.created += 1
        elif any(getattr(current, f) != getattr(row, f) for f in fields):
            for f in fields:
                setattr(current, f, getattr(row, f))
            current.updated_at = now
            result.updated += 1
        else:
            result.unchanged += 1
    if result.created or result.updated:
        audit.record(session, now=now, action="org.load", actor_user_id=actor_user_id,
                     object_type="unit", object_id=rows[0].code, unit_code=rows[0].code,
                     created=result.created, updated=result.updated)
    await session.flush()
    return result
