"""Verification services on SQLite and PostgreSQL: limits, codes, scan flags, CLI codes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.audit import AuditEntry
from bot.db.models.staff import Staff
from bot.db.models.verification import BindingCode
from bot.services.access.principal import Grant, Principal
from bot.services.roster import binding
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from bot.services.verification import lookups as verification
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")
KEY = b"k"


async def _seed(session: AsyncSession) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    session.add_all([
        Staff(staff_id=f"ZZ-410102-{n:04d}", name="张小华", role="enumerator",
              unit_code="410102", phone=f"+861380000{n:04d}", valid_to=date(2019, 6, 30),
              status="active", created_at=NOW, updated_at=NOW)
        for n in range(1, 4)
    ])
    await session.commit()


async def test_limits_count_from_the_database(session: AsyncSession) -> None:
    await _seed(session)
    policy = verification.LookupPolicy(per_minute=2, per_day=3)
    results = []
    for n in range(4):
        v = await verification.lookup(session, now=NOW + timedelta(seconds=n), user_id=1,
                                      chat_id=1, text="ZZ-410102-0001", policy=policy)
        results.append((v.result, v.limit))
    assert results == [("genuine", None), ("genuine", None), ("refused", "minute"),
                       ("refused", "minute")]
    v = await verification.lookup(session, now=NOW + timedelta(minutes=2), user_id=1, chat_id=1,
                                  text="ZZ-410102-0001", policy=policy)
    assert v.result == "genuine"
    v = await verification.lookup(session, now=NOW + timedelta(minutes=4), user_id=1, chat_id=1,
                                  text="x", policy=policy)
    assert (v.result, v.limit) == ("refused", "day")
    v = await verification.lookup(session, now=NOW + timedelta(days=1, minutes=5), user_id=1,
                                  chat_id=1, text="x", policy=policy)
    assert v.result == "unknown"


async def test_expiry_uses_shanghai_dates(session: AsyncSession) -> None:
    await _seed(session)
    policy = verification.LookupPolicy()
    # 2019-06-30 16:30 UTC is already 2019-07-01 in Shanghai: expired.
    late = at("2019-07-01 00:30")
    v = await verification.lookup(session, now=late, user_id=2, chat_id=2,
                                  text="ZZ-410102-0001", policy=policy)
    assert v.result == "expired"
    v = await verification.lookup(session, now=at("2019-06-30 23:59"), user_id=3, chat_id=3,
                                  text="ZZ-410102-0001", policy=policy)
    assert v.result == "genuine"


async def test_scan_is_flagged_once(session: AsyncSession) -> None:
    await _seed(session)
    policy = verification.LookupPolicy(per_minute=100, per_day=1000, scan_threshold=4)
    for n in range(1, 9):
        await verification.lookup(session, now=NOW + timedelta(seconds=n), user_id=9, chat_id=9,
                                  text=f"ZZ-410102-{n:04d}", policy=policy)
    # Looking up the same ID repeatedly is not a scan.
    for n in range(5):
        await verification.lookup(session, now=NOW + timedelta(seconds=n), user_id=8, chat_id=8,
                                  text="ZZ-410102-0001", policy=policy)
    flags = (await session.scalars(select(AuditEntry).where(
        AuditEntry.action == verification.SCAN_ACTION))).all()
    assert [(f.actor_user_id, f.details["distinct_ids"]) for f in flags] == [(9, 4)]


async def test_codes_are_hashed_single_use_and_superseded(session: AsyncSession) -> None:
    await _seed(session)
    policy = binding.CodePolicy()
    issued = await binding.issue_codes_for_unit(session, now=NOW, unit_code="410100", key=KEY,
                                                policy=policy)
    assert [s.staff_id for s, _ in issued] == ["ZZ-410102-0001", "ZZ-410102-0002",
                                               "ZZ-410102-0003"]
    code = issued[0][1]
    stored = (await session.scalars(select(BindingCode.code_hash))).all()
    assert code not in stored and binding.hash_code(code, KEY) in stored
    out = await binding.redeem_code(session, now=NOW, user_id=100, code=code.lower(), key=KEY,
                                    policy=policy)
    assert out.staff.staff_id == "ZZ-410102-0001"
    with pytest.raises(DomainError, match="already been used"):
        await binding.redeem_code(session, now=NOW, user_id=101, code=code, key=KEY,
                                  policy=policy)
    # A second batch skips the bound record and supersedes the older codes.
    again = await binding.issue_codes_for_unit(session, now=NOW, unit_code="410102", key=KEY,
                                               policy=policy)
    assert [s.staff_id for s, _ in again] == ["ZZ-410102-0002", "ZZ-410102-0003"]
    with pytest.raises(DomainError, match="expired or was replaced"):
        await binding.redeem_code(session, now=NOW, user_id=102, code=issued[1][1], key=KEY,
                                  policy=policy)
    with pytest.raises(DomainError, match="expired or was replaced"):
        await binding.redeem_code(session, now=NOW + timedelta(hours=73), user_id=103,
                                  code=again[0][1], key=KEY, policy=policy)


@pytest.mark.parametrize(("raw", "e164"), [
    ("+86 138-0000-0001", "+8613800000001"),
    ("13800000001", "+8613800000001"),
    ("0086 138 0000 0001", "+8613800000001"),
    ("8613800000001", "+8613800000001"),  # how Telegram sends a shared contact
    ("12345", None),
    ("", None),
])
def test_normalize_phone(raw: str, e164: str | None) -> None:
    assert binding.normalize_phone(raw) == e164


async def _notices(session: AsyncSession) -> list[tuple[int, str, str]]:
    from bot.db.models.outbox import OutboxMessage

    rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
    return [(r.chat_id, r.kind, r.payload.get("text", "")) for r in rows]


async def test_the_account_moved_off_a_record_is_warned(session: AsyncSession) -> None:
    await _seed(session)
    policy = binding.CodePolicy()
    head = Principal(900, "zh_CN", (Grant("office_head", "410100", "/410100/"),))
    first, _staff = await binding.issue_code_for_office(
        session, now=NOW, principal=head, staff_id="ZZ-410102-0001", key=KEY, policy=policy)
    await binding.redeem_code(session, now=NOW, user_id=100, code=first, key=KEY, policy=policy)
    assert await _notices(session) == [], "a first binding moves nobody"
    second, _staff = await binding.issue_code_for_office(
        session, now=NOW + timedelta(hours=1), principal=head, staff_id="ZZ-410102-0001",
        key=KEY, policy=policy)
    await binding.redeem_code(session, now=NOW + timedelta(hours=1), user_id=101, code=second,
                              key=KEY, policy=policy)
    [(chat, kind, text)] = await _notices(session)
    assert (chat, kind) == (100, "binding_moved")
    assert "ZZ-410102-0001" in text and "另一个 Telegram 账号" in text and "立即告知普查办" in text


async def test_the_bound_account_hears_of_suspension_and_revocation(
        session: AsyncSession) -> None:
    await _seed(session)
    staff = await session.get(Staff, "ZZ-410102-0002")
    assert staff is not None
    staff.telegram_user_id = 200
    await session.commit()
    head = Principal(900, "en", (Grant("office_head", "410100", "/410100/"),))
    for n, state in enumerate(("suspended", "active", "revoked")):
        await binding.set_status(session, now=NOW + timedelta(minutes=n), principal=head,
                                 staff_id="ZZ-410102-0002", status=state)
    notices = await _notices(session)
    assert [(c, k) for c, k, _t in notices] == [(200, "staff_status")] * 3
    suspended, active, revoked = (t for _c, _k, t in notices)
    assert "已暂停" in suspended and "ZZ-410102-0002" in suspended  # the staff member's language
    assert "已恢复" in active and "已注销" in revoked and "解除绑定" in revoked
