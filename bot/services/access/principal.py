"""Who may do what: role grants scoped to a unit and everything below it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.repo import users as users_repo

OFFICE_ROLES = frozenset({"office_head", "admin"})
LEADERSHIP_ROLES = frozenset({"leader", "office_head", "admin"})
REPORTING_ROLES = frozenset({"liaison", "office_head"})
STAFF_ROLES = frozenset({"enumerator", "supervisor"})


@dataclass(frozen=True)
class Grant:
    """One role on one unit (path is the unit's materialised path)."""

    role: str
    unit_code: str
    unit_path: str


@dataclass(frozen=True)
class Principal:
    """The chat user behind an update, with language and grants; never from typed ids."""

    user_id: int
    locale: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def roles(self) -> frozenset[str]:
        """Every role the user holds anywhere."""
        return frozenset(g.role for g in self.grants)

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether the user holds one of `roles` anywhere."""
        wanted = set(roles)
        return any(g.role in wanted for g in self.grants)

    def covers(self, roles: Iterable[str], unit_path: str) -> bool:
        """Whether a grant of one of `roles` is on this unit or one above it."""
        wanted = set(roles)
        return any(g.role in wanted and unit_path.startswith(g.unit_path) for g in self.grants)

    def units_for(self, roles: Iterable[str]) -> list[Grant]:
        """The grants of one of `roles`, outermost first."""
        wanted = set(roles)
        return sorted((g for g in self.grants if g.role in wanted), key=lambda g: g.unit_path)


async def load_principal(session: AsyncSession, user_id: int, locale: str) -> Principal:
    """Build the principal of a chat user from the grants stored for their Telegram id."""
    return principal_from(user_id, locale, await users_repo.grants_with_paths(session, user_id))


def principal_from(user_id: int, locale: str, rows: Iterable[tuple[str, str, str]]) -> Principal:
    """The principal for grants already loaded as (role, unit_code, unit_path) rows."""
    return Principal(user_id, locale, tuple(Grant(r, c, p) for r, c, p in rows))
