"""Roles bound through a staff record follow the record; privileged roles need an office code.

Each test walks through an attack from issue 12 and checks that it is now refused, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.audit import AuditEntry
from bot.db.models.staff import Staff
from bot.db.models.users import RoleGrant
from bot.services.access import users as users_service
from bot.services.access.principal import Grant, Principal, load_principal
from bot.services.roster import binding
from bot.services.roster import org as org_service
from bot.services.roster.importer import import_roster
from bot.services.shared.errors import DomainError
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")
KEY = b"k" * 32
POLICY = binding.CodePolicy()
CITY_HEAD = Principal(900, "en", (Grant("office_head", "410100", "/410100/"),))
HEADER = "staff_id,name,role,unit_code,phone,status\n"


def _csv(*rows: str) -> bytes:
    return (HEADER + "\n".join(rows) + "\n").encode()


async def _setup(session: AsyncSession, *rows: str) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    result = await import_roster(session, _csv(*rows), now=NOW)
    assert result.rejected == 0


async def _roles(session: AsyncSession, user_id: int) -> set[tuple[str, str]]:
    principal = await load_principal(session, user_id, "en")
    await session.commit()
    return {(g.role, g.unit_code) for g in principal.grants}


async def _bind_with_code(session: AsyncSession, staff_id: str, user_id: int,
                          when: object = NOW) -> None:
    code, _staff = await binding.issue_code_for_office(
        session, now=NOW, principal=CITY_HEAD, staff_id=staff_id, key=KEY, policy=POLICY)
    await binding.redeem_code(session, now=NOW, user_id=user_id, code=code, key=KEY,
                              policy=POLICY)


async def test_a_liaison_revoked_by_a_roster_import_loses_the_role(session: AsyncSession) -> None:
    await _setup(session, "ZZ-L-0001,李联络,liaison,410102,13800000101,active")
    await _bind_with_code(session, "ZZ-L-0001", 501)
    assert await _roles(session, 501) == {("liaison", "410102")}
    # The office revokes the liaison by re-importing the roster: the role is gone at once.
    result = await import_roster(
        session, _csv("ZZ-L-0001,李联络,liaison,410102,13800000101,revoked"),
        now=NOW + timedelta(hours=1))
    assert result.updated == 1
    assert await _roles(session, 501) == set()
    staff = await session.get(Staff, "ZZ-L-0001")
    assert staff is not None and staff.telegram_user_id is None
    assert await session.scalar(select(RoleGrant.id).where(RoleGrant.user_id == 501)) is None


async def test_a_demoted_then_revoked_office_head_keeps_nothing(session: AsyncSession) -> None:
    await _setup(session, "ZZ-H-0001,王主任,office_head,410102,13800000102,active")
    await _bind_with_code(session, "ZZ-H-0001", 502)
    assert await _roles(session, 502) == {("office_head", "410102")}
    # Demoted in the roster: the bound account now holds the new role only.
    await import_roster(session, _csv("ZZ-H-0001,王主任,enumerator,410102,13800000102,"),
                        now=NOW + timedelta(hours=1))
    assert await _roles(session, 502) == {("enumerator", "410102")}
    # ... then revoked with /revoke: nothing is left (the old office_head grant included).
    await binding.set_status(session, now=NOW + timedelta(hours=2), principal=CITY_HEAD,
                             staff_id="ZZ-H-0001", status="revoked")
    assert await _roles(session, 502) == set()
    assert (await session.scalars(select(RoleGrant).where(RoleGrant.user_id == 502))).all() == []


async def test_a_stale_binding_grant_from_before_counts_for_nothing(
        session: AsyncSession) -> None:
    """Grants written by the old code (no record attached) do not survive the roster."""
    await _setup(session, "ZZ-H-0002,赵主任,enumerator,410102,13800000103,active")
    staff = await session.get(Staff, "ZZ-H-0002")
    assert staff is not None
    staff.telegram_user_id = 503
    staff.bound_via = "code"
    session.add(RoleGrant(user_id=503, role="office_head", unit_code="410102",
                          source="binding", granted_at=NOW))
    await session.commit()
    assert await _roles(session, 503) == set()  # the record says enumerator, not office head


async def test_unit_change_moves_the_role(session: AsyncSession) -> None:
    await _setup(session, "ZZ-S-0001,钱指导,supervisor,410102,13800000104,active")
    await binding.bind_by_contact(session, now=NOW, user_id=504, contact_user_id=504,
                                  phone="+8613800000104")
    assert await _roles(session, 504) == {("supervisor", "410102")}
    await import_roster(session, _csv("ZZ-S-0001,钱指导,supervisor,410105,13800000104,"),
                        now=NOW + timedelta(hours=1))
    assert await _roles(session, 504) == {("supervisor", "410105")}
    await import_roster(session, _csv("ZZ-S-0001,钱指导,supervisor,410105,13800000104,"
                                      "suspended"), now=NOW + timedelta(hours=2))
    assert await _roles(session, 504) == set()
    await import_roster(session, _csv("ZZ-S-0001,钱指导,supervisor,410105,13800000104,active"),
                        now=NOW + timedelta(hours=3))
    assert await _roles(session, 504) == {("supervisor", "410105")}


async def test_manual_grants_are_left_alone(session: AsyncSession) -> None:
    await _setup(session, "ZZ-E-0001,孙普查,enumerator,410102,13800000105,active")
    await binding.bind_by_contact(session, now=NOW, user_id=505, contact_user_id=505,
                                  phone="13800000105")
    await users_service.grant_role(session, now=NOW, user_id=505, role="office_head",
                                   unit_code="410100")
    await binding.set_status(session, now=NOW + timedelta(hours=1), principal=CITY_HEAD,
                             staff_id="ZZ-E-0001", status="revoked")
    assert await _roles(session, 505) == {("office_head", "410100")}


async def test_a_phone_number_alone_cannot_bind_a_privileged_role(session: AsyncSession) -> None:
    await _setup(session,
                 "ZZ-H-0003,周主任,office_head,410100,13800000106,active",
                 "ZZ-E-0002,吴普查,enumerator,410102,13800000107,active")
    # A recycled number or a roster typo: whoever shares this contact is refused.
    with pytest.raises(DomainError, match="needs a one-time binding code"):
        await binding.bind_by_contact(session, now=NOW, user_id=506, contact_user_id=506,
                                      phone="+8613800000106")
    assert await _roles(session, 506) == set()
    staff = await session.get(Staff, "ZZ-H-0003")
    assert staff is not None and staff.telegram_user_id is None
    refused = await session.scalar(select(AuditEntry).where(
        AuditEntry.action == "binding.refused", AuditEntry.object_id == "ZZ-H-0003"))
    assert refused is not None and refused.details["reason"] == "code_required"
    # Enumerators may still bind by contact ...
    await binding.bind_by_contact(session, now=NOW, user_id=507, contact_user_id=507,
                                  phone="+8613800000107")
    assert await _roles(session, 507) == {("enumerator", "410102")}
    # ... but a promotion in the roster does not hand the contact-bound account the power.
    await import_roster(session, _csv("ZZ-E-0002,吴普查,office_head,410102,13800000107,"),
                        now=NOW + timedelta(hours=1))
    assert await _roles(session, 507) == set()
    # A code issued by the city office completes it, and the audit names the issuer.
    await _bind_with_code(session, "ZZ-E-0002", 507)
    assert await _roles(session, 507) == {("office_head", "410102")}
    bound = (await session.scalars(select(AuditEntry).where(
        AuditEntry.action == "binding.bind", AuditEntry.object_id == "ZZ-E-0002")
        .order_by(AuditEntry.id))).all()
    assert bound[-1].details["via"] == "code" and bound[-1].details["code_issued_by"] == 900
    issued = await session.scalar(select(AuditEntry).where(
        AuditEntry.action == "binding.code_issued", AuditEntry.object_id == "ZZ-E-0002"))
    assert issued is not None and issued.actor_user_id == 900


async def test_office_heads_found_for_notices_follow_the_roster(session: AsyncSession) -> None:
    from bot.db.repo import users as users_repo

    await _setup(session, "ZZ-H-0004,郑主任,office_head,410102,13800000108,active")
    await _bind_with_code(session, "ZZ-H-0004", 508)
    assert list(await users_repo.holders(session, ["office_head"], "410102")) == [508]
    await import_roster(session, _csv("ZZ-H-0004,郑主任,office_head,410102,13800000108,"
                                      "suspended"), now=NOW + timedelta(hours=1))
    assert list(await users_repo.holders(session, ["office_head"], "410102")) == []
