"""Public identity checks (by staff ID or badge token), rate limits, scan detection, stats.

Everything a member of the public learns comes from `PublicCard`: masked name, role, unit
names, agency and validity. Unknown and malformed IDs get the same answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.db.models.audit import AuditEntry
from bot.db.models.org import Unit
from bot.db.models.staff import Staff
from bot.db.models.verification import (
    EXPIRED,
    FORGED,
    GENUINE,
    REFUSED,
    REPORT_OPEN,
    REVOKED,
    SUSPENDED,
    UNKNOWN,
    ImpostorReport,
    StaffLookup,
)
from bot.db.repo import staff as staff_repo
from bot.db.repo import units as units_repo
from bot.services.roster import badges
from bot.services.shared import audit, rate_counter
from bot.services.shared.masking import mask_name

MAX_QUERY = 80
MAX_STAFF_ID = 64
SCAN_ACTION = "lookup.scan_suspected"
OFFICE_SCAN_ACTION = "lookup.office_scan_throttled"
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−﹣－"})
_PREFIXED_ID = re.compile(r"^[A-Z]{1,8}(?:-[A-Z0-9]{1,12}){1,4}$")
_DIGITS_ID = re.compile(r"^\d{8,20}$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_TRAILING_NUMBER = re.compile(r"^(.*?)(\d+)$")


def N_(message: str) -> str:
    """Mark a message id for translation (translated where it is shown)."""
    return message


ROLE_LABELS = {
    "enumerator": N_("Enumerator"),
    "supervisor": N_("Supervisor"),
    "liaison": N_("County liaison"),
    "office_head": N_("Census office head"),
    "leader": N_("Leadership"),
    "qa_desk": N_("Q&A desk"),
    "admin": N_("Administrator"),
}
RESULT_LABELS = {
    GENUINE: N_("genuine"),
    SUSPENDED: N_("suspended"),
    REVOKED: N_("revoked"),
    EXPIRED: N_("expired"),
    UNKNOWN: N_("not registered"),
    FORGED: N_("forged badge"),
    REFUSED: N_("refused (too many checks)"),
}
STATUS_LABELS = {"active": N_("active"), "suspended": N_("suspended"), "revoked": N_("revoked")}


def normalize_query(text: str) -> str:
    """The ID as typed, in canonical form: full-width folded, dashes unified, upper case."""
    folded = unicodedata.normalize("NFKC", text or "").translate(_DASHES)
    return re.sub(r"\s+", "", folded).upper()[:MAX_QUERY]


def is_bare_staff_id(text: str) -> bool:
    """Whether a whole message looks like a staff ID (conservative: questions go to the FAQ).

    Accepted: letters then dash-separated groups with at least six digits in all
    (ZZ-410102-0001), or 8 to 20 digits that are not a mainland mobile number.
    """
    stripped = (text or "").strip()
    if not stripped or len(stripped) > MAX_STAFF_ID or re.search(r"\s", stripped):
        return False
    q = normalize_query(stripped)
    if _PREFIXED_ID.match(q):
        return sum(c.isdigit() for c in q) >= 6 and q.rsplit("-", 1)[-1].isdigit()
    return bool(_DIGITS_ID.match(q)) and not _MOBILE.match(q)


@dataclass(frozen=True)
class LookupPolicy:
    """Anti-scraping limits and the zone that decides when a card has expired."""

    per_minute: int = 10
    per_day: int = 100
    scan_window: timedelta = timedelta(minutes=10)
    scan_threshold: int = 4
    office_limit: int = 30  # lookups of one office's IDs by all accounts per scan window
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    @classmethod
    def from_settings(cls, settings: Settings) -> LookupPolicy:
        """The policy configured in the settings."""
        return cls(settings.lookup_limit_per_minute, settings.lookup_limit_per_day,
                   timedelta(minutes=settings.lookup_scan_window_minutes),
                   settings.lookup_scan_threshold, settings.lookup_office_limit, settings.tz)


@dataclass(frozen=True)
class PublicCard:
    """What anyone may see about a staff record."""

    staff_id: str
    masked_name: str
    role: str
    units: tuple[Unit, ...]  # root first, the staff member's unit last
    org: str | None
    valid_to: date | None

    def unit_names(self, locale: str) -> str:
        """The unit with the units above it, e.g. 郑州市 中原区."""
        return " ".join(u.display_name(locale) for u in self.units)


@dataclass(frozen=True)
class Verdict:
    """The answer to one lookup."""

    result: str
    query: str
    lookup_id: int | None = None
    card: PublicCard | None = None
    limit: str | None = None  # "minute" | "day" | "scan" when refused


def _today(now: datetime, tz: ZoneInfo) -> date:
    return now.astimezone(tz).date()


def status_of(staff: Staff, today: date) -> str:
    """genuine, suspended, revoked or expired, read from the live record."""
    if staff.status == "revoked":
        return REVOKED
    if staff.status == "suspended":
        return SUSPENDED
    if staff.status != "active":
        return REVOKED
    if staff.valid_to is not None and staff.valid_to < today:
        return EXPIRED
    return GENUINE


async def unit_chain(session: AsyncSession, unit_code: str) -> tuple[Unit, ...]:
    """The unit and its ancestors, root first (one statement)."""
    return tuple(await units_repo.chain(session, unit_code))


async def public_card(session: AsyncSession, staff: Staff) -> PublicCard:
    """The masked public view of a staff record."""
    return PublicCard(staff.staff_id, mask_name(staff.name), staff.role,
                      await unit_chain(session, staff.unit_code), staff.org, staff.valid_to)


async def find_staff(session: AsyncSession, query: str) -> Staff | None:
    """The staff record an ID names (exact, or case-insensitively as normalised)."""
    if not query or len(query) > MAX_STAFF_ID:
        return None
    staff = await session.get(Staff, query)
    if staff is None and query != query.upper():
        staff = await session.get(Staff, query.upper())
    return staff


StaffFound = Mapping[str, tuple[Staff, tuple[Unit, ...]]]
# Reads ahead what a lookup of a normalised query would find (batched by the runtime).
ReadStaff = Callable[[str], Awaitable[StaffFound]]


def lookup_ids(query: str) -> tuple[str, ...]:
    """The staff IDs a lookup of `query` reads, in order of preference: the ID as given, then
    upper-cased (none for an empty or over-long query)."""
    if not query or len(query) > MAX_STAFF_ID:
        return ()
    return tuple(dict.fromkeys((query, query.upper())))


async def read_staff(session: AsyncSession, queries: Iterable[str]) -> StaffFound:
    """The records (with unit chains) that lookups of `queries` would find, in one statement:
    read ahead of the lookups by a caller batching them (`lookup(found=...)`)."""
    return await staff_repo.with_chains(session, [i for q in queries for i in lookup_ids(q)])


def _pick(found: StaffFound, query: str) -> tuple[Staff | None, tuple[Unit, ...]]:
    """The record a lookup of `query` names among `found`, and its unit chain (root first)."""
    for sid in lookup_ids(query):
        if sid in found:
            return found[sid]
    return None, ()


def scan_prefix(query: str) -> str | None:
    """The part of an ID shared by one office's staff (ZZ-410102-0001 -> ZZ-410102-)."""
    m = _TRAILING_NUMBER.match(query)
    if not m or len(m.group(2)) < 3:
        return None
    prefix, number = m.group(1), m.group(2)
    if not prefix:  # digits only: all but the last four digits name the office
        prefix, number = number[:-4], number[-4:]
    return prefix[:80] or None


async def _over_limit(
    session: AsyncSession, user_id: int, now: datetime, policy: LookupPolicy,
    prefix: str | None,
) -> tuple[str | None, int]:
    """Count this lookup against the user's minute and day and, for an ID with an office
    prefix, against that office's scan window, in one statement: ('minute', 'day' or 'scan'
    when refused, None when allowed) and the user's lookups counted today.

    The office counts only lookups the user's own limits allow (a refused user's bump of the
    office is taken back in the same transaction, as if it had not been made).
    """
    user_key = f"u:{user_id}"
    limits = [rate_counter.Limit(user_key, int(now.timestamp() // 60), policy.per_minute,
                                 _today(now, policy.tz).toordinal(), policy.per_day)]
    seconds = max(60, int(policy.scan_window.total_seconds()))
    if prefix is not None:
        window = int(now.timestamp() // seconds)
        limits.append(rate_counter.Limit(f"p:{prefix}", window, policy.office_limit, window,
                                         policy.office_limit))
    got = await rate_counter.bump_many(session, limits)
    mine = got[user_key]
    if not mine.ok:
        if prefix is not None and got[f"p:{prefix}"].ok:
            await rate_counter.unbump(session, f"p:{prefix}")
        return ("minute" if mine.a_count >= policy.per_minute else "day"), mine.b_count
    if prefix is None or got[f"p:{prefix}"].ok:
        return None, mine.b_count
    await _audit_office_scan(session, user_id, now, policy, prefix,
                             got[f"p:{prefix}"].a_count, seconds)
    return "scan", mine.b_count


def _cannot_be_scanning(now: datetime, policy: LookupPolicy, counted_today: int) -> bool:
    """Whether the day counter alone proves fewer than `scan_threshold` lookups in the scan
    window (so the window's lookups need not be read): the window lies within today, and
    every lookup recorded today was counted (refusals for the minute or day limit happen only
    past counts at or above the threshold)."""
    return (counted_today < policy.scan_threshold
            and policy.per_minute >= policy.scan_threshold
            and policy.per_day >= policy.scan_threshold
            and _today(now - policy.scan_window, policy.tz) == _today(now, policy.tz))


async def _audit_office_scan(
    session: AsyncSession, user_id: int, now: datetime, policy: LookupPolicy, prefix: str,
    lookups: int, seconds: int,
) -> None:
    """Audit, once per scan window, that an office's IDs are walked (lookups refused)."""
    since = now - policy.scan_window
    already = await session.scalar(
        select(AuditEntry.id).where(AuditEntry.action == OFFICE_SCAN_ACTION,
                                    AuditEntry.object_id == prefix, AuditEntry.at > since)
        .limit(1))
    if not already:
        audit.record(session, now=now, action=OFFICE_SCAN_ACTION, actor_user_id=user_id,
                     object_type="staff_id_prefix", object_id=prefix,
                     lookups=lookups, window_minutes=seconds // 60)
        await session.flush()  # before the lookup's own (Core) rows, as it happened first


async def _flag_scanning(
    session: AsyncSession, user_id: int, now: datetime, policy: LookupPolicy, current: str
) -> bool:
    """Audit once per window when a user walks through IDs that differ only in the number."""
    since = now - policy.scan_window
    queries = set((await session.scalars(
        select(StaffLookup.query).where(StaffLookup.user_id == user_id, StaffLookup.at > since,
                                        StaffLookup.channel == "id")
    )).all())
    queries.add(current)
    by_prefix: dict[str, set[str]] = defaultdict(set)
    for q in queries:
        m = _TRAILING_NUMBER.match(q)
        if m:
            by_prefix[m.group(1)].add(m.group(2))
    prefix, numbers = max(by_prefix.items(), key=lambda kv: len(kv[1]), default=("", set()))
    if len(numbers) < policy.scan_threshold:
        return False
    already = await session.scalar(
        select(AuditEntry.id).where(AuditEntry.actor_user_id == user_id,
                                    AuditEntry.action == SCAN_ACTION, AuditEntry.at > since)
        .limit(1)
    )
    if already:
        return False
    audit.record(session, now=now, action=SCAN_ACTION, actor_user_id=user_id,
                 object_type="staff_id_prefix", object_id=prefix[:128] or "(digits)",
                 distinct_ids=len(numbers), window_minutes=int(policy.scan_window.seconds / 60))
    return True


def stored_query(query: str) -> str:
    """What the audit keeps of a typed ID: a phone number typed by mistake is masked."""
    digits = query[3:] if query.startswith("+86") else query
    if _MOBILE.match(digits):
        return f"{digits[:3]}****{digits[-4:]}"
    return query[:MAX_QUERY]


async def _record(
    session: AsyncSession, *, now: datetime, user_id: int, chat_id: int | None, channel: str,
    query: str, staff: Staff | None, result: str,
) -> int:
    """Store the lookup and its audit entry (Core inserts: no unit of work to flush, and on
    PostgreSQL one round trip for both); the lookup's id."""
    query = stored_query(query)[:MAX_QUERY]
    unit_code = staff.unit_code if staff else None
    params = {"at": now, "user_id": user_id, "chat_id": chat_id, "channel": channel,
              "query": query, "staff_id": staff.staff_id if staff else None,
              "unit_code": unit_code, "result": result, "action": "lookup",
              "object_type": "staff", "object_id": query[:128],
              "details": {"result": result, "channel": channel}}
    if session.get_bind().dialect.name == "postgresql":
        return int((await session.execute(_record_stmt(True), params)).scalar_one())
    lookup_id = (await session.execute(_record_stmt(False), params)).scalar_one()
    await session.execute(_audit_stmt(), params)
    return int(lookup_id)


_LOOKUP_COLUMNS = ("at", "user_id", "chat_id", "channel", "query", "staff_id", "unit_code",
                   "result")


@lru_cache(maxsize=2)
def _record_stmt(with_audit: bool) -> Any:
    """The lookup's INSERT ... RETURNING id, built once; `with_audit` (PostgreSQL): the
    lookup's INSERT as a CTE of the audit entry's, which returns the lookup's id."""
    table: Any = StaffLookup.__table__
    lookup = insert(table).values(
        {c: bindparam(c, type_=table.c[c].type) for c in _LOOKUP_COLUMNS}
    ).returning(table.c.id)
    if not with_audit:
        return lookup
    cte = lookup.cte("new_lookup")
    return _audit_stmt().add_cte(cte).returning(select(cte.c.id).scalar_subquery())


@lru_cache(maxsize=1)
def _audit_stmt() -> Any:
    """The lookup's audit entry (what `audit.record` adds for it), as a Core INSERT."""
    table: Any = AuditEntry.__table__
    return insert(table).values(
        at=bindparam("at", type_=table.c.at.type),
        actor_user_id=bindparam("user_id", type_=table.c.actor_user_id.type),
        action=bindparam("action", type_=table.c.action.type),
        object_type=bindparam("object_type", type_=table.c.object_type.type),
        object_id=bindparam("object_id", type_=table.c.object_id.type),
        unit_code=bindparam("unit_code", type_=table.c.unit_code.type),
        details=bindparam("details", type_=table.c.details.type),
    )


async def _answer(
    session: AsyncSession, *, now: datetime, user_id: int, chat_id: int | None, channel: str,
    query: str, staff_id: str | None, policy: LookupPolicy, found: StaffFound | None = None,
) -> Verdict:
    limit, counted_today = await _over_limit(session, user_id, now, policy,
                                             scan_prefix(query) if channel == "id" else None)
    if limit is not None:
        await _record(session, now=now, user_id=user_id, chat_id=chat_id, channel=channel,
                      query=query, staff=None, result=REFUSED)
        return Verdict(REFUSED, query, limit=limit)
    card = None
    if channel == "badge" and staff_id is None:
        staff, result = None, FORGED
    else:
        if found is None:
            found = await read_staff(session, [staff_id or ""])
        staff, chain = _pick(found, staff_id or "")
        result = status_of(staff, _today(now, policy.tz)) if staff else UNKNOWN
        if staff is not None:
            card = PublicCard(staff.staff_id, mask_name(staff.name), staff.role, chain,
                              staff.org, staff.valid_to)
    lookup_id = await _record(session, now=now, user_id=user_id, chat_id=chat_id,
                              channel=channel, query=query, staff=staff, result=result)
    if channel == "id" and not _cannot_be_scanning(now, policy, counted_today):
        if await _flag_scanning(session, user_id, now, policy, query):
            await session.flush()
    return Verdict(result, query, lookup_id, card)


async def lookup(
    session: AsyncSession, *, now: datetime, user_id: int, chat_id: int | None, text: str,
    policy: LookupPolicy, found: StaffFound | None = None,
) -> Verdict:
    """Check a staff ID typed by anyone; rate-limited, audited (no commit).

    `found`: the records `read_staff` found for this query, read just before (by a caller
    that batches the reads of many lookups); by default they are read here.
    """
    query = normalize_query(text)
    return await _answer(session, now=now, user_id=user_id, chat_id=chat_id, channel="id",
                         query=query, staff_id=query, policy=policy, found=found)


async def verify_badge(
    session: AsyncSession, *, now: datetime, user_id: int, chat_id: int | None, token: str,
    key: bytes, policy: LookupPolicy,
) -> Verdict:
    """Check a scanned badge token: signature first, then the live staff record."""
    staff_id = badges.verify(token, key)
    return await _answer(session, now=now, user_id=user_id, chat_id=chat_id, channel="badge",
                         query=staff_id or token, staff_id=staff_id, policy=policy)


# ---------------------------------------------------------------- office statistics


@dataclass(frozen=True)
class OfficeSummary:
    """A week of lookups and the open impostor reports of an office head's units."""

    since: datetime
    counts: dict[str, int]
    open_reports: Sequence[ImpostorReport]
    unit_names: Sequence[str]


async def office_summary(
    session: AsyncSession, *, now: datetime, unit_paths: Sequence[str], include_unknown: bool,
    locale: str = "zh_CN", days: int = 7,
) -> OfficeSummary:
    """Counts by result of the last `days` days' lookups in the subtrees, and open reports.

    Lookups of IDs that match no record belong to no unit; they are counted when
    `include_unknown` (the caller heads a root unit).
    """
    since = now - timedelta(days=days)
    in_units = [Unit.path.startswith(p) for p in unit_paths]
    unit_filter: Any = or_(*in_units) if in_units else False
    known = (await session.execute(
        select(StaffLookup.result, func.count(StaffLookup.id))
        .join(Unit, Unit.code == StaffLookup.unit_code)
        .where(StaffLookup.at > since, unit_filter)
        .group_by(StaffLookup.result)
    )).all()
    counts: dict[str, int] = {str(r): int(n) for r, n in known}
    if include_unknown:
        unknown = (await session.execute(
            select(StaffLookup.result, func.count(StaffLookup.id))
            .where(StaffLookup.at > since, StaffLookup.unit_code.is_(None))
            .group_by(StaffLookup.result)
        )).all()
        for r, n in unknown:
            counts[str(r)] = counts.get(str(r), 0) + int(n)
    reports = (await session.scalars(
        select(ImpostorReport).join(Unit, Unit.code == ImpostorReport.unit_code)
        .where(ImpostorReport.status == REPORT_OPEN, unit_filter)
        .order_by(ImpostorReport.created_at).limit(20)
    )).all()
    names = (await session.scalars(
        select(Unit).where(Unit.path.in_(list(unit_paths))).order_by(Unit.path)
    )).all()
    return OfficeSummary(since, counts, reports, [u.display_name(locale) for u in names])
