"""Spreadsheets: the blank report to fill in, reading it back, the period export, targets."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo
from functools import cache
from typing import TYPE_CHECKING, Any

from bot.services.reports.quickform import parse_number
from bot.services.reports.templates import N_, Problem, ReportTemplate, Value, templates
from bot.services.shared.errors import DomainError
from bot.services.shared.safe_cells import append_row
from bot.services.shared.sheet_guard import (
    REPORT_LIMITS,
    SheetLimits,
    check_rows,
    parse_untrusted,
)
from bot.util.timefmt import local_time_with_offset, period_text

if TYPE_CHECKING:
    from openpyxl import Workbook

Gettext = Callable[[str], str]
HEADER_KEY = "key"
# openpyxl is imported where a workbook is built or read (it costs start-up time otherwise)


@cache
def _styles() -> tuple[Any, Any]:
    """The bold font and the highlight fill (openpyxl imported on first use)."""
    from openpyxl.styles import Font, PatternFill

    return Font(bold=True), PatternFill("solid", fgColor="FFF2CC")
TARGET_LIMITS = SheetLimits(max_rows=100_000)


@dataclass(frozen=True)
class TargetRow:
    """One target to import."""

    unit_code: str
    phase: str
    key: str
    value: float


def _font(size: int) -> Any:
    """A bold font of this size."""
    from openpyxl.styles import Font

    return Font(bold=True, size=size)


def _column_letter(i: int) -> str:
    """The spreadsheet letter of column i (1 = A)."""
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(i))


def _save(wb: Workbook) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def build_report_xlsx(
    *,
    template: ReportTemplate,
    unit_code: str,
    unit_name: str,
    period_start: date,
    period_end: date,
    targets: Mapping[str, float],
    previous: Mapping[str, Any],
    current: Mapping[str, Any],
    locale: str,
    t: Gettext,
) -> bytes:
    """The blank report: one row per field with label, unit, target and previous value."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = template.phase
    append_row(ws, [f"{template.name_for(locale)} — {unit_name}"])
    ws["A1"].font = _font(size=13)
    append_row(ws, ["unit_code", unit_code,
                    t("Do not change the grey cells and the key column.")])
    append_row(ws, ["phase", template.phase])
    append_row(ws, ["period", period_start.isoformat(), period_end.isoformat()])
    append_row(ws, [])
    append_row(ws, [HEADER_KEY, t("Field"), t("Unit"), t("Required"), t("Target"),
                    t("Previous"), t("This report")])
    for cell in ws[6]:
        cell.font = _styles()[0]
    for f in template.fields:
        target = targets.get(f.target) if f.target else None
        append_row(ws, [f.key, f.label_for(locale), f.unit_for(locale),
                        t("yes") if f.required else "", target, previous.get(f.key),
                        current.get(f.key)])
        ws.cell(row=ws.max_row, column=7).fill = _styles()[1]
    for col, width in zip("ABCDEFG", (20, 34, 10, 8, 10, 12, 16), strict=True):
        ws.column_dimensions[col].width = width
    return _save(wb)


@dataclass
class XlsxReport:
    """What a filled-in report spreadsheet says."""

    unit_code: str
    phase: str
    values: dict[str, Value] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _open(data: bytes) -> Any:
    try:
        from openpyxl import load_workbook

        return load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DomainError("This file is not an Excel workbook (.xlsx). Send /report template "
                          "for the form to fill in.") from exc


def _bounded_rows(ws: Any, limits: SheetLimits) -> list[list[Any]]:
    rows = [list(r) for r in ws.iter_rows(values_only=True, max_row=limits.max_rows + 1,
                                          max_col=limits.max_cols)]
    check_rows(len(rows), 0, limits)
    return rows


def read_report_xlsx(data: bytes, locale: str,
                     limits: SheetLimits = REPORT_LIMITS) -> XlsxReport:
    """Read a filled-in report; DomainError when it is not our form at all.

    Uploads go through `read_report_upload` (checks first, parsing in a worker process).
    """
    wb = _open(data)
    try:
        ws = wb.worksheets[0]
        rows = _bounded_rows(ws, limits)
    finally:
        wb.close()
    meta: dict[str, Any] = {}
    header = None
    for idx, row in enumerate(rows):
        if not row:
            continue
        first = str(row[0]).strip() if row[0] is not None else ""
        if first in ("unit_code", "phase") and len(row) > 1:
            meta[first] = str(row[1]).strip() if row[1] is not None else ""
        if first == HEADER_KEY:
            header = idx
            break
    phase = meta.get("phase", "")
    template = templates().get(phase)
    if header is None or not meta.get("unit_code") or template is None:
        raise DomainError("This spreadsheet is not a report form. Send /report template for "
                          "the form to fill in.")
    out = XlsxReport(unit_code=meta["unit_code"], phase=phase)
    keys = set(template.keys)
    for row in rows[header + 1:]:
        if not row or row[0] is None:
            continue
        key = str(row[0]).strip()
        if key not in keys:
            continue
        f = template.field(key)
        raw = row[6] if len(row) > 6 else None
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if f.type == "text":
            out.values[key] = str(raw).strip()
        elif isinstance(raw, bool):
            out.problems.append(Problem(key, N_("%(field)s: “%(value)s” is not a number."),
                                        {"field": f.label_for(locale), "value": str(raw)}))
        elif isinstance(raw, int | float):
            out.values[key] = float(raw)
        else:
            number = parse_number(str(raw))
            if number is None:
                out.problems.append(Problem(key, N_("%(field)s: “%(value)s” is not a number."),
                                            {"field": f.label_for(locale),
                                             "value": str(raw)[:50]}))
            else:
                out.values[key] = number
    return out


async def read_report_upload(data: bytes, locale: str) -> XlsxReport:
    """An uploaded report form: size, zip and sheet checks, then parsed in a limited worker."""
    result: XlsxReport = await parse_untrusted(read_report_xlsx, data, locale,
                                               limits=REPORT_LIMITS)
    return result


@dataclass(frozen=True)
class ExportSheet:
    """One phase of the export: the template, one row per unit, the totals row."""

    template: ReportTemplate
    rows: Sequence[Any]  # UnitProgress
    total: Any | None  # Rollup of the root


def build_export_xlsx(sheets: Sequence[ExportSheet], *, locale: str, t: Gettext,
                      status_names: Mapping[str, str], tz: tzinfo = UTC) -> bytes:
    """The period's progress: a sheet per phase, a row per unit, a totals row at the bottom.

    Times are written in `tz` (the readers' zone) with their offset, e.g. 2018-10-08 10:00 +08:00.
    """
    from openpyxl import Workbook

    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    for sheet in sheets:
        tmpl = sheet.template
        ws = wb.create_sheet(tmpl.name_for(locale)[:31])
        numeric = [f for f in tmpl.fields if f.numeric]
        period = ""
        if sheet.rows:
            r0 = sheet.rows[0]
            period = period_text(r0.period_start, r0.period_end, locale)
        append_row(ws, [tmpl.name_for(locale), period])
        ws["A1"].font = _font(size=13)
        head = [t("Unit code"), t("Unit"), t("Status"), t("Submitted at"), t("Version")]
        head += [f"{f.label_for(locale)} ({f.unit_for(locale)})" if f.unit else
                 f.label_for(locale) for f in numeric]
        head += [t("Completion rate (%)"), t("Newly found"), t("Problems and needs")]
        append_row(ws, head)
        for cell in ws[2]:
            cell.font = _styles()[0]
        for p in sheet.rows:
            append_row(ws, [p.unit_code, p.display_name(locale),
                            status_names.get(p.status, p.status),
                            local_time_with_offset(p.submitted_at, tz),
                            p.version or None]
                       + [p.values.get(f.key) for f in numeric]
                       + [p.completion_rate, p.new_found_total or None,
                          "; ".join(p.text.values())])
        if sheet.total is not None:
            total = sheet.total
            append_row(ws, [total.unit_code, t("Total"), "", "", None]
                       + [total.values.get(f.key) for f in numeric]
                       + [total.completion_rate, sum(total.new_found.values()) or None, ""])
            for cell in ws[ws.max_row]:
                cell.font = _styles()[0]
        for i in range(1, len(head) + 1):
            ws.column_dimensions[_column_letter(i)].width = 14
    return _save(wb)


def read_targets_xlsx(data: bytes) -> list[Any]:
    """Target rows from a spreadsheet with unit_code, phase, key, target columns."""
    wb = _open(data)
    try:
        rows = _bounded_rows(wb.worksheets[0], TARGET_LIMITS)
    finally:
        wb.close()
    if not rows:
        raise DomainError("The targets spreadsheet is empty.")
    aliases = {"unit_code": "unit_code", "单位代码": "unit_code", "phase": "phase",
               "阶段": "phase", "key": "key", "指标": "key", "target": "target", "目标": "target"}
    header = [aliases.get(str(c).strip(), "") if c is not None else "" for c in rows[0]]
    missing = {"unit_code", "phase", "key", "target"} - set(header)
    if missing:
        raise DomainError("The targets spreadsheet lacks the columns %(columns)s.",
                          columns=", ".join(sorted(missing)))
    col = {name: header.index(name) for name in ("unit_code", "phase", "key", "target")}
    out = []
    for row in rows[1:]:
        if not row or all(c is None for c in row):
            continue
        raw = row[col["target"]]
        value = float(raw) if isinstance(raw, int | float) else parse_number(str(raw or ""))
        if value is None:
            raise DomainError("Target %(value)s is not a number.", value=str(raw))
        out.append(TargetRow(str(row[col["unit_code"]]).strip(), str(row[col["phase"]]).strip(),
                             str(row[col["key"]]).strip(), value))
    return out
