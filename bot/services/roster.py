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

import re
import unicodedata
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.staff import STAFF_ROLES, STAFF_STATUSES
from bot.db.repo import staff as staff_repo
from bot.db.repo import units as units_repo
from bot.services import audit, roster_grants
from bot.services.roster_file import N_, RawTable, RosterFileError, read_tables

__all__ = [
    "COLUMNS", "REQUIRED", "ImportResult", "Problem", "RosterFileError", "RowOutcome",
    "clean_row", "import_roster", "map_header", "normalize_staff_id", "parse_date",
    "parse_phone", "parse_roster",
]

REQUIRED = ("staff_id", "name", "role", "unit_code", "phone")
OPTIONAL = ("org", "valid_to", "status")
COLUMNS = REQUIRED + OPTIONAL

HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "staff_id": ("staff_id", "编号", "人员编号", "证件编号"),
    "name": ("name", "姓名"),
    "role": ("role", "角色"),
    "unit_code": ("unit_code", "单位代码"),
    "phone": ("phone", "手机号", "手机号码", "手机"),
    "org": ("org", "所属机构"),
    "valid_to": ("valid_to", "有效期至"),
    "status": ("status", "状态"),
}
ROLE_ALIASES: dict[str, str] = {
    **{r: r for r in STAFF_ROLES},
    "普查员": "enumerator", "普查指导员": "supervisor", "指导员": "supervisor",
    "联络员": "liaison", "普查办主任": "office_head", "领导": "leader",
    "领导小组": "leader", "答疑": "qa_desk",
}
STATUS_ALIASES: dict[str, str] = {
    **{s: s for s in STAFF_STATUSES},
    "有效": "active", "暂停": "suspended", "注销": "revoked",
}
MAX_LEN = {"staff_id": 64, "name": 100, "unit_code": 32, "phone": 40, "org": 200,
           "role": 32, "status": 32, "valid_to": 40}
HEADER_SEARCH_ROWS = 10
STAFF_ID_RE = re.compile(r"[A-Z0-9][A-Z0-9_.\-/]*")
DATE_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]0{1,2}:00(?::00(?:\.0+)?)?)?")
SPACE_RE = re.compile(r"\s+")
# C0/C1 controls, invisible format characters, surrogates and private use: never in a roster.
CONTROL_RE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff"
    "\ud800-\udfff\ue000-\uf8ff]")
SEPARATORS_RE = re.compile(r"[\s\-()（）]+")
_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
assert _CN is not None and _CN.mobile is not None and _CN.general_desc is not None
_CN_MOBILE = re.compile(str(_CN.mobile.national_number_pattern))
_CN_GENERAL = re.compile(str(_CN.general_desc.national_number_pattern))
_CN_PLAIN_MOBILE = re.compile(r"(?:\+?86)?(1\d{10})")


@dataclass(frozen=True)
class Problem:
    """Why a row was rejected: the column, a machine rule name and a translatable message."""

    row: int
    column: str  # canonical column name (staff_id, phone, ...)
    rule: str  # required, too_long, bad_staff_id, bad_role, bad_phone, bad_date, bad_status,
    #            unknown_unit, duplicate
    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    header: str = ""  # the column's heading as written in the file

    def render(self, gettext: Any = None) -> str:
        """'row N, column X: reason' in the caller's language (English by default)."""
        text: str = gettext(self.msgid) if gettext else self.msgid
        label = self.header if self.header and self.header == self.column else (
            f"{self.header} ({self.column})" if self.header else self.column)
        return text % {"row": self.row, "column": label, **self.params}

    @property
    def message(self) -> str:
        """The English message."""
        return self.render()


@dataclass
class RowOutcome:
    """What happened to one data row."""

    row: int
    staff_id: str | None
    outcome: str  # created | updated | unchanged | rejected
    reasons: list[Problem] = field(default_factory=list)
    changed: tuple[str, ...] = ()  # fields an update changed


@dataclass
class ImportResult:
    """Outcome of one import: per-row outcomes and counts."""

    file_name: str
    kind: str
    columns: dict[str, str]  # canonical column -> heading found in the file
    ignored_columns: list[str]
    outcomes: list[RowOutcome]
    dry_run: bool = False
    known_units: int = 0
    sheet: str | None = None
    encoding: str | None = None

    def count(self, outcome: str) -> int:
        """How many rows had this outcome."""
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def created(self) -> int:
        """Rows that created a record."""
        return self.count("created")

    @property
    def updated(self) -> int:
        """Rows that changed an existing record."""
        return self.count("updated")

    @property
    def unchanged(self) -> int:
        """Rows identical to the stored record."""
        return self.count("unchanged")

    @property
    def rejected(self) -> int:
        """Rows refused."""
        return self.count("rejected")

    @property
    def imported(self) -> int:
        """Rows accepted (created + updated + unchanged)."""
        return len(self.outcomes) - self.rejected

    @property
    def rejections(self) -> list[RowOutcome]:
        """The rejected rows, in file order."""
        return [o for o in self.outcomes if o.outcome == "rejected"]


@dataclass
class ParsedRoster:
    """A file read and its header mapped: the data rows as {column: raw cell}."""

    kind: str
    columns: dict[str, str]
    ignored_columns: list[str]
    rows: list[tuple[int, dict[str, Any]]]
    sheet: str | None = None
    encoding: str | None = None


# ---------------------------------------------------------------------------- header


def _key(text: Any) -> str:
    norm = unicodedata.normalize("NFKC", "" if text is None else str(text))
    return re.sub(r"[\s_\-]+", "", norm).lower()


_HEADER_INDEX = {_key(alias): col for col, aliases in HEADER_ALIASES.items() for alias in aliases}
_ROLE_INDEX = {_key(alias): role for alias, role in ROLE_ALIASES.items()}
_STATUS_INDEX = {_key(alias): status for alias, status in STATUS_ALIASES.items()}


def map_header(cells: Iterable[Any]) -> tuple[dict[str, int], dict[str, str], list[str]]:
    """Map header cells to columns: ({column: index}, {column: heading}, ignored headings).

    Raises RosterFileError when two headings mean the same column.
    """
    index: dict[str, int] = {}
    headings: dict[str, str] = {}
    ignored: list[str] = []
    for i, cell in enumerate(cells):
        heading = "" if cell is None else SPACE_RE.sub(" ", str(cell)).strip()
        col = _HEADER_INDEX.get(_key(cell))
        if col is None:
            if heading:
                ignored.append(heading)
            continue
        if col in index:
            raise RosterFileError(
                N_("Columns %(first)s and %(second)s both mean %(column)s; keep only one."),
                first=headings[col], second=heading, column=col)
        index[col] = i
        headings[col] = heading
    return index, headings, ignored


def _required_list() -> str:
    return ", ".join(f"{c} ({HEADER_ALIASES[c][1]})" for c in REQUIRED)


def _find_header(table: RawTable) -> tuple[int, dict[str, int], dict[str, str], list[str]]:
    """Position of the header among the first rows (title rows above it are skipped)."""
    candidates = [(pos, cells) for pos, (_n, cells) in enumerate(table.rows)
                  if not (isinstance(cells[0], str) and cells[0].lstrip().startswith("#"))]
    best: tuple[int, dict[str, int], dict[str, str], list[str]] | None = None
    for pos, cells in candidates[:HEADER_SEARCH_ROWS]:
        index, headings, ignored = map_header(cells)
        if all(c in index for c in REQUIRED):
            return pos, index, headings, ignored
        if best is None or len(index) > len(best[1]):
            best = (pos, index, headings, ignored)
    if best is None:
        raise RosterFileError(N_("The file is empty."))
    _pos, index, headings, ignored = best
    missing = [c for c in REQUIRED if c not in index]
    found = [*headings.values(), *ignored]
    shown = ", ".join(str(f)[:40] for f in found[:20]) or "-"
    raise RosterFileError(
        N_("No roster header row: required columns missing: %(missing)s. Columns found: "
           "%(found)s. A roster needs %(required)s."),
        missing=", ".join(missing), found=shown, required=_required_list())


def parse_roster(data: bytes) -> ParsedRoster:
    """Read a file's bytes and map its header; RosterFileError when the file is unusable."""
    tables = read_tables(data)
    error: RosterFileError | None = None
    for table in tables:  # XLSX: the first sheet that holds a roster
        try:
            pos, index, headings, ignored = _find_header(table)
        except RosterFileError as exc:
            error = error or exc
            continue
        rows: list[tuple[int, dict[str, Any]]] = []
        for number, cells in table.rows[pos + 1:]:
            rows.append((number, {c: cells[i] if i < len(cells) else None
                                  for c, i in index.items()}))
        if not rows:
            raise RosterFileError(N_("The file has a header row but no data rows."))
        return ParsedRoster(kind=table.kind, columns=headings, ignored_columns=ignored,
                            rows=rows, sheet=table.sheet, encoding=table.encoding)
    assert error is not None
    raise error


# ---------------------------------------------------------------------------- cells


def _text(value: Any) -> str:
    """A cell as stripped text; Excel numbers lose a spurious '.0'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).upper()
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return SPACE_RE.sub(" ", str(value)).strip()


def normalize_staff_id(text: str) -> str:
    """The canonical form of a staff id: NFKC (full-width to half-width), trimmed, upper case."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def _has_control(text: str) -> bool:
    return CONTROL_RE.search(text) is not None


def parse_date(value: Any) -> date | None:
    """2019-12-31, 2019/12/31, 2019.12.31, 2019年12月31日 or an Excel date cell; None if bad."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    m = DATE_RE.fullmatch(unicodedata.normalize("NFKC", value).strip())
    if not m:
        return None
    try:
        parsed = date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None
    return parsed if 1900 <= parsed.year <= 2100 else None


def parse_phone(text: str) -> str | None:
    """A valid phone number (default region CN) in E.164, or None."""
    raw = unicodedata.normalize("NFKC", text).strip()
    if not raw or len(raw) > MAX_LEN["phone"]:
        return None
    plain = _CN_PLAIN_MOBILE.fullmatch(SEPARATORS_RE.sub("", raw))
    if plain and _CN_GENERAL.fullmatch(plain[1]) and _CN_MOBILE.fullmatch(plain[1]):
        # Fast path for the common case, same verdict as phonenumbers.is_valid_number: a mainland
        # mobile number matching the library's own CN mobile pattern.
        return "+86" + plain[1]
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_row(
    row: int,
    raw: Mapping[str, Any],
    *,
    unit_codes: Container[str] | None = None,
    headings: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """Validate one row's cells; returns (clean values of the columns present, problems).

    Only columns present in `raw` are validated and returned; an empty status is returned as
    None (the caller decides between 'keep' and 'active'). `unit_codes` None skips the
    unit-existence check.
    """
    heads = headings or {}
    problems: list[Problem] = []
    out: dict[str, Any] = {}

    def bad(col: str, rule: str, msgid: str, **params: Any) -> None:
        problems.append(Problem(row=row, column=col, rule=rule, msgid=msgid, params=params,
                                header=heads.get(col, col)))

    for col in COLUMNS:
        if col not in raw:
            continue
        value = raw[col]
        if col == "valid_to" and isinstance(value, date):
            out[col] = value.date() if isinstance(value, datetime) else value
            continue
        text = _text(value)
        if not text:
            if col in REQUIRED:
                bad(col, "required", N_("Row %(row)s, column %(column)s: a value is required."))
            else:
                out[col] = None
            continue
        if len(text) > MAX_LEN[col]:
            bad(col, "too_long", N_("Row %(row)s, column %(column)s: the value is %(length)s "
                                    "characters long; at most %(limit)s are allowed."),
                length=len(text), limit=MAX_LEN[col])
            continue
        if _has_control(text):
            bad(col, "bad_characters",
                N_("Row %(row)s, column %(column)s: the value contains control characters."))
            continue
        if col == "staff_id":
            sid = normalize_staff_id(text)
            if not STAFF_ID_RE.fullmatch(sid):
                bad(col, "bad_staff_id",
                    N_("Row %(row)s, column %(column)s: %(value)s is not a valid staff ID; use "
                       "letters, digits and - _ . / only."), value=text[:64])
            else:
                out[col] = sid
        elif col == "role":
            role = _ROLE_INDEX.get(_key(text))
            if role is None:
                bad(col, "bad_role",
                    N_("Row %(row)s, column %(column)s: unknown role %(value)s; use one of: "
                       "%(allowed)s."), value=text[:40], allowed=_allowed(ROLE_ALIASES))
            else:
                out[col] = role
        elif col == "status":
            status = _STATUS_INDEX.get(_key(text))
            if status is None:
                bad(col, "bad_status",
                    N_("Row %(row)s, column %(column)s: unknown status %(value)s; use one of: "
                       "%(allowed)s."), value=text[:40], allowed=_allowed(STATUS_ALIASES))
            else:
                out[col] = status
        elif col == "unit_code":
            code = unicodedata.normalize("NFKC", text).strip()
            if unit_codes is not None and code not in unit_codes:
                bad(col, "unknown_unit",
                    N_("Row %(row)s, column %(column)s: unit code %(value)s is not in the "
                       "organisation; load it with `censusbot org load` or fix the code."),
                    value=code)
            else:
                out[col] = code
        elif col == "phone":
            phone = parse_phone(text)
            if phone is None:
                bad(col, "bad_phone",
                    N_("Row %(row)s, column %(column)s: %(value)s is not a valid phone number "
                       "(mainland mobile like 13800000000, landline with area code like "
                       "0371-12345678, or +country code)."), value=text[:40])
            else:
                out[col] = phone
        elif col == "valid_to":
            parsed = parse_date(text)
            if parsed is None:
                bad(col, "bad_date",
                    N_("Row %(row)s, column %(column)s: %(value)s is not a date; write it as "
                       "2019-12-31, 2019/12/31 or 2019年12月31日."), value=text[:40])
            else:
                out[col] = parsed
        else:  # name, org
            out[col] = text
    return out, problems


def _allowed(aliases: Mapping[str, str]) -> str:
    by_value: dict[str, list[str]] = {}
    for alias, value in aliases.items():
        by_value.setdefault(value, []).append(alias)
    return ", ".join(" ".join(names) for names in by_value.values())


# ---------------------------------------------------------------------------- import


def _duplicates(
    cleaned: list[tuple[int, dict[str, Any], list[Problem]]], heads: Mapping[str, str]
) -> None:
    """Add a 'duplicate' problem to repeated staff ids (see the module docstring for the rule)."""
    groups: dict[str, list[tuple[int, dict[str, Any], list[Problem]]]] = {}
    for item in cleaned:
        sid = item[1].get("staff_id")
        if sid:
            groups.setdefault(sid, []).append(item)
    for sid, items in groups.items():
        if len(items) < 2:
            continue
        rows = [n for n, _v, _p in items]
        values = [v for _n, v, p in items if not p]
        identical = len(values) == len(items) and all(v == values[0] for v in values)
        for pos, (n, _v, problems) in enumerate(items):
            if identical and pos == 0:
                continue
            others = ", ".join(str(r) for r in rows if r != n)
            msgid = (N_("Row %(row)s, column %(column)s: staff ID %(value)s repeats row "
                        "%(others)s with the same values; only the first is imported.")
                     if identical else
                     N_("Row %(row)s, column %(column)s: staff ID %(value)s also appears on row "
                        "%(others)s with different values; none of them is imported."))
            problems.append(Problem(row=n, column="staff_id", rule="duplicate", msgid=msgid,
                                    params={"value": sid, "others": others},
                                    header=heads.get("staff_id", "staff_id")))


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
    _duplicates(cleaned, parsed.columns)
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
