"""The step object report entry returns, and the two screens it builds: a field and the summary.

A step is plain data: which messages to send (a template and its context, or a msgid and its
parameters), which buttons under them (msgid, parameters, callback payload), and what the
conversation state becomes. The handler renders it; nothing here knows about Telegram.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bot.callbacks import ReportAction
from bot.services.reports import submission as svc
from bot.services.reports.checks import Review, target_label
from bot.services.reports.templates import Field, Problem, Value, fmt
from bot.services.shared.errors import DomainError
from bot.util.timefmt import local_time, period_text


@dataclass(frozen=True)
class Button:
    """One inline button: `label` is a msgid filled with `params` (or shown as is when
    `literal`), `data` the packed callback payload."""

    label: str
    data: str
    params: dict[str, Any] = field(default_factory=dict)
    literal: bool = False


@dataclass(frozen=True)
class Document:
    """A file to send, with a templated caption."""

    content: bytes
    filename: str
    caption_template: str


@dataclass(frozen=True)
class Reply:
    """One message: a template and context, or a msgid and parameters; optional buttons."""

    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    keyboard: list[list[Button]] | None = None
    document: Document | None = None


@dataclass
class Step:
    """What to do after one input: the replies, the conversation state, the pressed buttons."""

    replies: list[Reply] = field(default_factory=list)
    fsm: Literal["active", "clear"] | None = None
    fsm_data: dict[str, Any] | None = None
    clear_markup: bool = False  # remove the buttons of the message pressed
    alert: str | None = None  # a callback answered with this msgid as an alert
    error: DomainError | None = None  # a rule broken at a button: shown as a message

    def say(self, text: str, **params: Any) -> Step:
        """Add a plain message (a msgid and its parameters)."""
        self.replies.append(Reply(text=text, params=params))
        return self

    def show(self, template: str, keyboard: list[list[Button]] | None = None,
             **context: Any) -> Step:
        """Add a templated message."""
        self.replies.append(Reply(template=template, context=context, keyboard=keyboard))
        return self


def N_(message: str) -> str:
    """Mark a message id for extraction; translated when rendered."""
    return message


def action(name: str) -> str:
    """The packed payload of a report button."""
    return ReportAction(name).pack()


CANCEL_ROW = [Button(N_("Cancel"), action("cancel"))]


def suggestion(ctx: svc.ReportContext, values: dict[str, Any], f: Field) -> Value | None:
    """The value offered by "Keep": entered, this period's, or a cumulative previous one."""
    if f.key in values:
        return values[f.key]
    if ctx.current is not None and f.key in ctx.current.values:
        return ctx.current.values[f.key]
    if f.monotonic or f.type == "percent":
        prev = ctx.previous.get(f.key)
        return prev if isinstance(prev, int | float) else None
    return None


def ask_field(ctx: svc.ReportContext, cursor: int, values: dict[str, Any], locale: str,
              error: str | None = None) -> Reply:
    """The question for the field at `cursor`, with Back / Keep / Skip / Cancel."""
    f = ctx.template.fields[cursor]
    offered = suggestion(ctx, values, f)
    target = ctx.targets.get(f.target) if f.target else None
    row: list[Button] = []
    if cursor > 0:
        row.append(Button(N_("⬅ Back"), action("back")))
    if offered is not None and offered != "":
        shown = fmt(offered) if not isinstance(offered, str) else offered[:20]
        row.append(Button(N_("Keep %(value)s"), action("keep"), {"value": shown}))
    if not f.required:
        row.append(Button(N_("Skip"), action("skip")))
    return Reply(template="reports/ask_field.html.j2", context={
        "n": cursor + 1, "total": len(ctx.template.fields), "label": f.label_for(locale),
        "unit": f.unit_for(locale), "type": f.type, "required": f.required,
        "target": fmt(target) if target is not None else None,
        "previous": fmt(ctx.previous[f.key]) if f.key in ctx.previous else None,
        "error": error}, keyboard=[row, CANCEL_ROW])


def change_text(f: Field, value: Any, before: Any) -> str | None:
    """"+3", "-2" or "±0" against the baseline, for numeric fields with both values."""
    if not (f.numeric and isinstance(before, int | float) and isinstance(value, int | float)):
        return None
    delta = value - before
    return ("+" if delta > 0 else "") + fmt(delta) if delta else "±0"


def summary_rows(ctx: svc.ReportContext, values: dict[str, Any],
                 locale: str) -> list[dict[str, Any]]:
    """One row per field given: value, change since the baseline, target and rate."""
    rows = []
    for f in ctx.template.fields:
        if f.key not in values:
            continue
        v = values[f.key]
        target = ctx.targets.get(f.target) if f.target else None
        rate = (round(100.0 * v / target, 1) if target and isinstance(v, int | float) else None)
        rows.append({"label": f.label_for(locale), "value": fmt(v) if f.numeric else v,
                     "unit": f.unit_for(locale),
                     "change": change_text(f, v, ctx.baseline.get(f.key)),
                     "target": fmt(target) if target is not None else None, "rate": rate})
    return rows


def problem_texts(problems: list[Problem], t: Any) -> list[str]:
    """Each problem in the reader's language."""
    return [p.render(t) for p in problems]


def summary(ctx: svc.ReportContext, values: dict[str, Any],
            reason: str | None, new_found: dict[str, Any] | None, rev: Review, *,
            locale: str, t: Any, tz: Any, now: datetime, error: str | None = None) -> Reply:
    """The whole draft with its problems, and Confirm (or what is needed first)."""
    edit_row = [Button(N_("✏️ Edit"), action("edit")), Button(N_("Cancel"), action("cancel"))]
    buttons: list[list[Button]]
    if rev.stage == "confirm":
        buttons = [[Button(N_("✅ Confirm and submit"), action("confirm"))], edit_row]
    elif rev.stage == "newfound":
        least = fmt(rev.needed[rev.pending[0]])
        buttons = [[Button(N_("All %(count)s are newly found"), action("nf"), {"count": least})],
                   edit_row]
    else:
        buttons = [edit_row]
    found = [{"label": target_label(ctx.template, k, locale), "count": fmt(v)}
             for k, v in (new_found or {}).items() if k in rev.needed]
    return Reply(template="reports/summary.html.j2", keyboard=buttons, context={
        "unit": ctx.assignment.unit.display_name(locale),
        "table": ctx.template.name_for(locale), "period": period_text(ctx.period, locale=locale),
        "deadline": local_time(ctx.period.deadline, tz), "late": now > ctx.period.deadline,
        "rows": summary_rows(ctx, values, locale),
        "version": (ctx.current.version + 1) if ctx.current else 1,
        "rate": ctx.template.completion_rate(values, ctx.targets),
        "hard": problem_texts(rev.hard, t), "decreases": problem_texts(rev.decreases, t),
        "above": problem_texts(rev.above, t), "new_found": found,
        "asking": rev.pending_label(ctx.template, locale),
        "least": fmt(rev.needed[rev.pending[0]]) if rev.pending else None,
        "reason": reason, "stage": rev.stage, "error": error})
