"""Render a bulletin in the reader's language: Telegram HTML message(s) and the HTML document.

Every line of the message template is self-contained HTML (tags open and close on the line),
so a long bulletin is split cleanly between lines into messages of at most 4,096 characters.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.rendering import render
from bot.services.bulletins.content import (
    LATE,
    LATE_MISSING,
    MISSING,
    NOT_DUE,
    ON_TIME,
    SUBMITTED,
    BulletinData,
    UnitFigure,
    figures,
    number_text,
    pct,
    signed_points,
)
from bot.util.timefmt import period_text

TELEGRAM_LIMIT = 4096


def N_(message: str) -> str:
    """Mark a string for translation without translating it now."""
    return message


STATUS_MSGIDS = {
    SUBMITTED: N_("on time"),
    LATE: N_("late"),
    MISSING: N_("missing"),
    NOT_DUE: N_("not due"),
}
VERDICT_MSGIDS = {
    ON_TIME: N_("on time"),
    LATE: N_("late"),
    MISSING: N_("missing"),
    LATE_MISSING: N_("late and missing"),
    NOT_DUE: N_("not due"),
}


@dataclass(frozen=True)
class Issue:
    """What identifies a bulletin beyond its data: number, date, note, what it corrects."""

    number: int | None
    issued_on: date
    note: str | None = None
    corrects_number: int | None = None
    correction_reason: str | None = None


def heading(data: BulletinData, number: int | None, t: Any) -> str:
    """The title with its number: 关于全市入户调查情况的通报（第N期） / Bulletin No. N on ..."""
    title = data.title(t.locale)
    if number is None:
        return str(t("Draft bulletin on %(title)s") % {"title": title})
    return str(t("Bulletin No. %(number)s on %(title)s") % {"number": number, "title": title})


def context(data: BulletinData, issue: Issue, t: Any) -> dict[str, Any]:
    """The template context: every figure already formatted for the reader, from `figures`."""
    loc = t.locale
    fig = figures(data)
    plan = fig.plan
    issuer = t("%(unit)s census office") % {"unit": data.root_display(loc)}
    sep = ", " if loc.startswith("en") else "、"

    def row_view(f: UnitFigure) -> dict[str, Any]:
        verdict = str(t(VERDICT_MSGIDS[f.verdict]))
        return {
            "rank": f.rank if f.rank is not None else "—",
            "name": f.unit.display_name(loc),
            "rate": pct(f.rate),
            "delta": signed_points(f.delta),
            "late": f.late,
            "missing": f.missing,
            "status": verdict,
            "behind": f.behind,
            "flag": verdict if f.verdict in (LATE, MISSING, LATE_MISSING) else "",
        }

    full_table = [row_view(f) for f in fig.rows]
    total = sum(s.target for s in data.sources)
    note = (issue.note or "").strip() or None
    return {
        "draft": issue.number is None,
        "heading": heading(data, issue.number, t),
        "issuer": issuer,
        "issued_on": issue.issued_on.isoformat(),
        "period": period_text(data.period_start, data.period_end, loc),
        "period_start": data.period_start.isoformat(),
        "period_end": data.period_end.isoformat(),
        "correction": ({"number": issue.corrects_number, "reason": issue.correction_reason}
                       if issue.corrects_number else None),
        "overall": {
            "done": number_text(sum(s.done for s in data.sources)),
            "target": number_text(total),
            "rate": pct(fig.overall) if total else None,
            "plan": pct(plan),
            "new_found": number_text(sum(s.new_found for s in data.sources)),
        },
        "sources": [{"label": s.label(loc), "done": number_text(s.done),
                     "target": number_text(s.target), "rate": pct(s.rate),
                     "new_found": number_text(s.new_found) if s.new_found else None}
                    for s in data.sources],
        "table": full_table if len(fig.rows) <= data.table_in_message_max else None,
        "full_table": full_table,
        "unit_count": len(fig.rows),
        "praised": [{"name": f.unit.display_name(loc), "rate": pct(f.rate), "rank": f.rank}
                    for f in fig.praised],
        "late": [{"name": f.unit.display_name(loc), "count": f.late} for f in fig.late],
        "missing": [{"name": f.unit.display_name(loc), "count": f.missing}
                    for f in fig.missing],
        "lagging": [{"name": f.unit.display_name(loc), "rate": pct(f.rate),
                     "gap": f"{((plan or 0.0) - (f.rate or 0.0)) * 100:.1f}"}
                    for f in fig.lagging],
        "repeat": [{"name": u.display_name(loc), "periods": u.offence_periods}
                   for u in fig.repeat],
        "overdue_orders": [  # supervision orders past their due date (督办逾期)
            {"name": o["unit_en" if loc.startswith("en") else "unit_zh"],
             "ref": o["ref_en" if loc.startswith("en") else "ref_zh"], "due": o["due"]}
            for o in data.extra.get("overdue_orders") or []],
        "separator": sep,
        "note": note,
        "note_lines": note.splitlines() if note else [],
        "html_lang": "en" if loc.startswith("en") else "zh-CN",
    }


def split_lines(text: str, limit: int = TELEGRAM_LIMIT, header: str = "") -> list[str]:
    """Pack whole lines into messages of at most `limit` characters.

    Continuation messages start with `header` and a "(k/n)" marker is not added here: the
    header is the bulletin title, so a reader always knows what a part belongs to.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        if len(line) > limit - len(header) - 1:
            line = line[: limit - len(header) - 2] + "…"
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            chunks.append("\n".join(current).strip("\n"))
            current = [header] if header else []
            size = len(header)
            extra = len(line) + (1 if current else 0)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current).strip("\n"))
    return [c for c in chunks if c.strip()]


def render_messages(data: BulletinData, issue: Issue, t: Any,
                    limit: int = TELEGRAM_LIMIT) -> list[str]:
    """The Telegram summary: one message, or several split cleanly between lines."""
    ctx = context(data, issue, t)
    text = render("bulletins/message.html.j2", t, **ctx)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    header = f"<b>{_escape(ctx['heading'])}</b> " + str(t("(continued)"))
    return split_lines(text, limit, header=header)


def render_document(data: BulletinData, issue: Issue, t: Any, chart: bytes | None = None) -> str:
    """The full bulletin as a standalone HTML document (the chart embedded as a data URI)."""
    ctx = context(data, issue, t)
    chart_uri = ("data:image/png;base64," + base64.b64encode(chart).decode("ascii")
                 if chart else None)
    return render("bulletins/document.html.j2", t, chart_uri=chart_uri, **ctx) + "\n"


def document_filename(data: BulletinData, number: int | None, locale: str, ext: str) -> str:
    """A file name such as survey-weekly-no-3-zh_CN.html (ASCII, safe everywhere)."""
    tag = f"no-{number}" if number is not None else f"draft-{data.period_start.isoformat()}"
    return f"{data.series_id}-{tag}-{locale}.{ext}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
