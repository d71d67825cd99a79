"""Bind a chat account to a roster record: by shared phone contact or by a one-time code.

Rules (docs/verification.md):
- A contact is accepted only when it is the sender's own (contact.user_id == sender).
- A record bound to another account cannot be taken over by a contact; a fresh code issued
  by the office (which proves the office's consent) moves it, and the old account loses the
  role granted by the binding.
- An account bound to one record must /unbind before binding another.
- Codes are single use, expire, are stored as HMAC hashes; wrong codes lock the user out
  after `max_failures` within `lock` time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.org import Unit
from bot.db.models.staff import Staff
from bot.db.models.verification import GENUINE, BindingAttempt, BindingCode
from bot.services.access.principal import OFFICE_ROLES, Principal
from bot.services.roster import grants as roster_grants
from bot.services.roster import notices as staff_notices
from bot.services.shared import audit
from bot.services.shared.errors import DomainError
from bot.services.verification.lookups import find_staff, status_of

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 10
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class CodePolicy:
    """How long codes live and how many wrong ones a user may try."""

    ttl: timedelta = timedelta(hours=72)
    max_failures: int = 5
    lock: timedelta = timedelta(hours=1)
    tz: ZoneInfo = SHANGHAI


@dataclass(frozen=True)
class BindOutcome:
    """The record now bound to the user; `already` when nothing changed."""

    staff: Staff
    already: bool = False
    moved_from: int | None = None


def normalize_phone(raw: str, region: str = "CN") -> str | None:
    """The number in E.164 (+8613800000000), or None when it is not a valid number."""
    text = (raw or "").strip()
    if not text:
        return None
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_code(text: str) -> str:
    """A typed code without spaces or dashes, upper case."""
    return "".join(c for c in (text or "").upper() if c.isalnum())


def format_code(code: str) -> str:
    """A code as printed: ABCDE-FGHJK."""
    return f"{code[:5]}-{code[5:]}"


def hash_code(code: str, key: bytes) -> str:
    """The stored form of a code (HMAC-SHA256 with the signing key)."""
    return hmac.new(key, b"censusbot-binding:" + code.encode(), hashlib.sha256).hexdigest()


async def bound_staff(session: AsyncSession, user_id: int) -> Staff | None:
    """The staff record bound to a chat user, if any."""
    return await session.scalar(select(Staff).where(Staff.telegram_user_id == user_id))


async def drop_binding_grants(
    session: AsyncSession, *, now: datetime, user_id: int, staff: Staff,
    actor_user_id: int | None,
) -> bool:
    """Remove every role the record's binding gave (not grants made by hand); no commit."""
    removed = await roster_grants.drop_record_grants(session, now=now, staff=staff,
                                                     actor_user_id=actor_user_id)
    await roster_grants.delete_orphans(session, user_id)
    return removed > 0


async def _refuse(
    session: AsyncSession, *, now: datetime, user_id: int, staff: Staff | None, reason: str,
    error: DomainError,
) -> DomainError:
    audit.record(session, now=now, action="binding.refused", actor_user_id=user_id,
                 object_type="staff", object_id=staff.staff_id if staff else None,
                 unit_code=staff.unit_code if staff else None, reason=reason)
    await session.flush()
    return error


async def _check_bindable(
    session: AsyncSession, *, now: datetime, user_id: int, staff: Staff, via: str, tz: ZoneInfo,
) -> None:
    state = status_of(staff, now.astimezone(tz).date())
    if state != GENUINE:
        raise await _refuse(session, now=now, user_id=user_id, staff=staff, reason=state,
                            error=DomainError(
                                "This staff record is not active (%(state)s). Please contact "
                                "your county census office.", state=state))
    current = await bound_staff(session, user_id)
    if current is not None and current.staff_id != staff.staff_id:
        raise await _refuse(session, now=now, user_id=user_id, staff=staff,
                            reason="user_bound_elsewhere", error=DomainError(
                                "Your account is already bound to staff ID %(staff_id)s. Send "
                                "/unbind first if you want to bind another record.",
                                staff_id=current.staff_id))
    if (via == "contact" and staff.telegram_user_id is not None
            and staff.telegram_user_id != user_id):
        raise await _refuse(session, now=now, user_id=user_id, staff=staff,
                            reason="record_bound_elsewhere", error=DomainError(
                                "This staff record is already bound to another Telegram "
                                "account. To move it to this account, ask your county census "
                                "office for a binding code."))


async def _apply_bind(
    session: AsyncSession, *, now: datetime, user_id: int, staff: Staff, via: str,
    issued_by: int | None = None,
) -> BindOutcome:
    extra = {"code_issued_by": issued_by if issued_by is not None else "operator"} \
        if via == "code" else {}
    if staff.telegram_user_id == user_id:
        if via == "code":  # an office code confirms a binding made by contact
            staff.bound_via = "code"
            audit.record(session, now=now, action="binding.bind", actor_user_id=user_id,
                         object_type="staff", object_id=staff.staff_id,
                         unit_code=staff.unit_code, via=via, role=staff.role, already=True,
                         **extra)
        await roster_grants.sync_record_grants(session, now=now, staff=staff,
                                               actor_user_id=user_id)
        await session.flush()
        return BindOutcome(staff, already=True)
    previous = staff.telegram_user_id
    if previous is not None:
        await drop_binding_grants(session, now=now, user_id=previous, staff=staff,
                                  actor_user_id=user_id)
        staff.telegram_user_id = None
        await session.flush()  # release the unique account id before reassigning
        audit.record(session, now=now, action="binding.rebind", actor_user_id=user_id,
                     object_type="staff", object_id=staff.staff_id, unit_code=staff.unit_code,
                     previous_user_id=previous, via=via)
        await staff_notices.tell_binding_moved(session, now=now, staff=staff,
                                               previous_user_id=previous)
    staff.telegram_user_id = user_id
    staff.bound_via = via
    staff.updated_at = now
    audit.record(session, now=now, action="binding.bind", actor_user_id=user_id,
                 object_type="staff", object_id=staff.staff_id, unit_code=staff.unit_code, via=via,
                 role=staff.role, **extra)
    await roster_grants.sync_record_grants(session, now=now, staff=staff, actor_user_id=user_id)
    await session.flush()
    return BindOutcome(staff, moved_from=previous)


async def bind_by_contact(
    session: AsyncSession, *, now: datetime, user_id: int, contact_user_id: int | None,
    phone: str, tz: ZoneInfo = SHANGHAI,
) -> BindOutcome:
    """Bind the sender to the roster record carrying their own shared phone number."""
    if contact_user_id != user_id:
        raise await _refuse(session, now=now, user_id=user_id, staff=None,
                            reason="foreign_contact", error=DomainError(
                                "Please share your own phone number with the button below, "
                                "not someone else's contact."))
    e164 = normalize_phone(phone)
    if e164 is None:
        raise DomainError("This phone number is not valid. Please share your own mobile number "
                          "with the button below.")
    rows = (await session.scalars(
        select(Staff).where(Staff.phone == e164).order_by(Staff.staff_id)
    )).all()
    if not rows:
        raise await _refuse(session, now=now, user_id=user_id, staff=None, reason="no_match",
                            error=DomainError(
                                "This number is not on the census staff roster. Check with "
                                "your county census office that the roster has your current "
                                "mobile number, or ask them for a binding code."))
    mine = [s for s in rows if s.telegram_user_id == user_id]
    candidates = mine or [s for s in rows if s.status == "active"] or list(rows)
    if len(candidates) > 1:
        raise await _refuse(session, now=now, user_id=user_id, staff=None, reason="ambiguous",
                            error=DomainError(
                                "Several roster records carry this number. Please ask your "
                                "county census office for a binding code."))
    staff = candidates[0]
    await _check_bindable(session, now=now, user_id=user_id, staff=staff, via="contact", tz=tz)
    if not roster_grants.binding_allows(staff.role, staff.bound_via
                                        if staff.telegram_user_id == user_id else "contact"):
        raise await _refuse(session, now=now, user_id=user_id, staff=staff,
                            reason="code_required", error=DomainError(
                                "Your role on the roster needs a one-time binding code: a "
                                "phone number alone is not enough. Ask your census office for "
                                "a code and send /bind CODE."))
    return await _apply_bind(session, now=now, user_id=user_id, staff=staff, via="contact")


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def _issue(
    session: AsyncSession, *, now: datetime, staff: Staff, key: bytes, policy: CodePolicy,
    actor_user_id: int | None,
) -> str:
    await session.execute(
        update(BindingCode)
        .where(BindingCode.staff_id == staff.staff_id, BindingCode.used_at.is_(None),
               BindingCode.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    code = _new_code()
    session.add(BindingCode(code_hash=hash_code(code, key), staff_id=staff.staff_id,
                            issued_by=actor_user_id, created_at=now,
                            expires_at=now + policy.ttl))
    return code


async def issue_code_for_office(
    session: AsyncSession, *, now: datetime, principal: Principal, staff_id: str, key: bytes,
    policy: CodePolicy,
) -> tuple[str, Staff]:
    """An office head issues a code for a staff member of their units (older codes die)."""
    staff = await find_staff(session, staff_id.strip())
    unit = await session.get(Unit, staff.unit_code) if staff else None
    if staff is None or unit is None or not principal.covers(OFFICE_ROLES, unit.path):
        raise DomainError("There is no staff record %(staff_id)s in your units.",
                          staff_id=staff_id)
    if status_of(staff, now.astimezone(policy.tz).date()) != GENUINE:
        raise DomainError("Staff %(staff_id)s is not active; reinstate them before issuing a "
                          "binding code.", staff_id=staff.staff_id)
    code = await _issue(session, now=now, staff=staff, key=key, policy=policy,
                        actor_user_id=principal.user_id)
    audit.record(session, now=now, action="binding.code_issued", actor_user_id=principal.user_id,
                 object_type="staff", object_id=staff.staff_id, unit_code=staff.unit_code)
    await session.flush()
    return code, staff


async def issue_codes_for_unit(
    session: AsyncSession, *, now: datetime, unit_code: str, key: bytes, policy: CodePolicy,
) -> list[tuple[Staff, str]]:
    """Codes for every unbound active staff member of a unit's subtree (operator, CLI)."""
    unit = await session.get(Unit, unit_code)
    if unit is None:
        raise DomainError("Unknown unit %(code)s.", code=unit_code)
    today = now.astimezone(policy.tz).date()
    rows: Sequence[Staff] = (await session.scalars(
        select(Staff).join(Unit, Unit.code == Staff.unit_code)
        .where(Unit.path.startswith(unit.path), Staff.telegram_user_id.is_(None),
               Staff.status == "active")
        .order_by(Staff.unit_code, Staff.staff_id)
    )).all()
    out = []
    for staff in rows:
        if status_of(staff, today) != GENUINE:
            continue
        out.append((staff, await _issue(session, now=now, staff=staff, key=key, policy=policy,
                                        actor_user_id=None)))
    audit.record(session, now=now, action="binding.codes_issued", object_type="unit",
                 object_id=unit.code, unit_code=unit.code, count=len(out))
    await session.flush()
    return out


async def redeem_code(
    session: AsyncSession, *, now: datetime, user_id: int, code: str, key: bytes,
    policy: CodePolicy,
) -> BindOutcome:
    """Bind the user with a one-time code; wrong codes count towards a temporary lock."""
    since = now - policy.lock
    failures = (await session.scalars(
        select(BindingAttempt.at).where(BindingAttempt.user_id == user_id,
                                        BindingAttempt.at > since,
                                        BindingAttempt.success.is_(False))
        .order_by(BindingAttempt.at.desc())
    )).all()
    if len(failures) >= policy.max_failures:
        until = failures[policy.max_failures - 1] + policy.lock
        raise DomainError("Too many wrong codes. You can try again after %(time)s.",
                          time=until.astimezone(policy.tz).strftime("%H:%M"))
    clean = normalize_code(code)
    row = await session.scalar(
        select(BindingCode).where(BindingCode.code_hash == hash_code(clean, key))
    ) if len(clean) == CODE_LENGTH else None
    problem: DomainError | None = None
    reason = ""
    if row is None:
        left = policy.max_failures - len(failures) - 1
        reason = "unknown"
        problem = DomainError("This binding code is not valid. Check it and try again "
                              "(attempts left: %(left)s).", left=left)
    elif row.used_at is not None:
        reason = "used"
        problem = DomainError("This binding code has already been used. Ask your county census "
                              "office for a new one.")
    elif row.revoked_at is not None or row.expires_at <= now:
        reason = "expired"
        problem = DomainError("This binding code has expired or was replaced by a newer one. "
                              "Ask your county census office for a new one.")
    if problem is not None or row is None:
        session.add(BindingAttempt(user_id=user_id, at=now, success=False))
        assert problem is not None
        raise await _refuse(session, now=now, user_id=user_id, staff=None,
                            reason=f"code_{reason}", error=problem)
    staff = await session.get(Staff, row.staff_id)
    if staff is None:  # pragma: no cover - cascade deletes codes with the record
        raise DomainError("This binding code is not valid. Check it and try again "
                          "(attempts left: %(left)s).", left=0)
    await _check_bindable(session, now=now, user_id=user_id, staff=staff, via="code",
                          tz=policy.tz)
    row.used_at = now
    row.used_by = user_id
    session.add(BindingAttempt(user_id=user_id, at=now, success=True))
    return await _apply_bind(session, now=now, user_id=user_id, staff=staff, via="code",
                             issued_by=row.issued_by)


async def unbind(session: AsyncSession, *, now: datetime, user_id: int) -> Staff:
    """Unbind the user's own record; the binding's role grant goes with it."""
    staff = await bound_staff(session, user_id)
    if staff is None:
        raise DomainError("Your account is not bound to a staff record.")
    await drop_binding_grants(session, now=now, user_id=user_id, staff=staff,
                              actor_user_id=user_id)
    staff.telegram_user_id = None
    staff.bound_via = None
    staff.updated_at = now
    audit.record(session, now=now, action="binding.unbind", actor_user_id=user_id,
                 object_type="staff", object_id=staff.staff_id, unit_code=staff.unit_code)
    await session.flush()
    return staff


async def outstanding_codes(session: AsyncSession, staff_id: str, now: datetime) -> int:
    """How many usable codes a staff record has."""
    return int(await session.scalar(
        select(func.count(BindingCode.id)).where(
            BindingCode.staff_id == staff_id, BindingCode.used_at.is_(None),
            BindingCode.revoked_at.is_(None), BindingCode.expires_at > now)
    ) or 0)


STATUS_ACTIONS = {"suspended": "staff.suspend", "revoked": "staff.revoke",
                  "active": "staff.reinstate"}


async def office_staff(
    session: AsyncSession, principal: Principal, staff_id: str
) -> tuple[Staff, Unit]:
    """A staff record of the office head's own units (same error whether absent or foreign)."""
    staff = await find_staff(session, staff_id.strip())
    unit = await session.get(Unit, staff.unit_code) if staff else None
    if staff is None or unit is None or not principal.covers(OFFICE_ROLES, unit.path):
        raise DomainError("There is no staff record %(staff_id)s in your units.",
                          staff_id=staff_id)
    return staff, unit


async def set_status(
    session: AsyncSession, *, now: datetime, principal: Principal, staff_id: str, status: str,
) -> tuple[Staff, str]:
    """Suspend, revoke or reinstate a staff member at once; returns (record, previous status).

    Suspension and revocation remove the role the binding gave; revocation also ends the
    binding and cancels outstanding codes. Reinstating a still-bound record restores the role.
    """
    if status not in STATUS_ACTIONS:
        raise DomainError("Unknown status %(state)s.", state=status)
    staff, _unit = await office_staff(session, principal, staff_id)
    previous = staff.status
    if previous == status:
        raise DomainError("Staff %(staff_id)s is already %(state)s.", staff_id=staff.staff_id,
                          state=status)
    staff.status = status
    staff.updated_at = now
    bound = staff.telegram_user_id
    if status == "revoked":
        await roster_grants.end_binding(session, now=now, staff=staff,
                                        actor_user_id=principal.user_id)
    else:
        await roster_grants.sync_record_grants(session, now=now, staff=staff,
                                               actor_user_id=principal.user_id)
    audit.record(session, now=now, action=STATUS_ACTIONS[status],
                 actor_user_id=principal.user_id, object_type="staff", object_id=staff.staff_id,
                 unit_code=staff.unit_code, previous=previous, bound_user_id=bound)
    if bound is not None and bound != principal.user_id:
        await staff_notices.tell_status_changed(session, now=now, staff=staff, user_id=bound,
                                                status=status)
    await session.flush()
    return staff, previous


async def staff_details(
    session: AsyncSession, *, now: datetime, principal: Principal, staff_id: str,
) -> tuple[Staff, Unit]:
    """Full record (name, phone) for an office head of the staff member's unit; audited."""
    staff, unit = await office_staff(session, principal, staff_id)
    audit.record(session, now=now, action="staff.view", actor_user_id=principal.user_id,
                 object_type="staff", object_id=staff.staff_id, unit_code=staff.unit_code)
    await session.flush()
    return staff, unit
