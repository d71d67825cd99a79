"""What a report draft still needs before it can be confirmed: fixes, 新增 counts or a reason.

One place decides the draft's next stage, so that every prompt the liaison sees leads on to a
Confirm button (or to Edit / Cancel): `fix` (a rule is broken: send corrected values or edit),
`newfound` (a count is above its target: say how many objects were newly found), `reason` (a
cumulative figure went down: say why), `confirm`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.services.reports.quickform import parse_number, parse_quick
from bot.services.reports.submission import ReportContext, check
from bot.services.reports.templates import (
    N_,
    Problem,
    ReportTemplate,
    Value,
    missing_new_found,
    new_found_needed,
)


@dataclass(frozen=True)
class Review:
    """The problems of a draft and the stage they put it in."""

    stage: str
    hard: list[Problem]
    decreases: list[Problem]
    above: list[Problem]
    pending: list[str]  # target keys whose 新增 count is still needed, in field order
    needed: dict[str, float]  # the least 新增 per target key

    def pending_label(self, template: ReportTemplate, locale: str) -> str | None:
        """The source type whose 新增 count is asked now (the first counted field's label)."""
        return target_label(template, self.pending[0], locale) if self.pending else None


def target_label(template: ReportTemplate, key: str, locale: str) -> str:
    """A target key as people name it: the label of the first field measured against it."""
    for f in template.fields:
        if f.target == key:
            return f.label_for(locale)
    return key


def review(ctx: ReportContext, values: Mapping[str, Value], *, reason: str | None,
           new_found: Mapping[str, Any] | None, locale: str) -> Review:
    """Check the whole draft and say which stage it is in."""
    problems = check(ctx, values, locale)
    hard = [p for p in problems if p.hard]
    decreases = [p for p in problems if p.confirmable]
    above = [p for p in problems if p.above is not None]
    pending = missing_new_found(problems, new_found)
    if hard:
        stage = "fix"
    elif pending:
        stage = "newfound"
    elif decreases and not reason:
        stage = "reason"
    else:
        stage = "confirm"
    return Review(stage, hard, decreases, above, pending, new_found_needed(problems))


@dataclass(frozen=True)
class TextOutcome:
    """What a message typed at the summary changes: values, reason, 新增, or an error."""

    values: dict[str, Value] | None = None
    reason: str | None = None
    new_found: dict[str, float] | None = None
    problems: list[Problem] | None = None
    error: str | None = None  # a msgid to show when the text could not be used
    params: dict[str, Any] | None = None


def apply_text(ctx: ReportContext, values: Mapping[str, Value], rev: Review, text: str, *,
               reason: str | None, new_found: Mapping[str, Any] | None,
               locale: str) -> TextOutcome:
    """Use a message typed while the summary waits: corrected values, a 新增 count or a reason."""
    text = text.strip()
    if rev.stage == "newfound":
        key = rev.pending[0]
        least = rev.needed[key]
        number = parse_number(text)
        label = target_label(ctx.template, key, locale)
        if number is None or number < 0 or not float(number).is_integer():
            return TextOutcome(error=N_("%(field)s: send the number of newly found objects as "
                                        "a whole number (at least %(least)s)."),
                               params={"field": label, "least": _n(least)})
        if number < least:
            return TextOutcome(error=N_("%(field)s: the newly found objects cannot be fewer "
                                        "than the %(least)s above the target."),
                               params={"field": label, "least": _n(least)})
        return TextOutcome(new_found={**dict(new_found or {}), key: int(number)})
    if rev.stage == "reason":
        return TextOutcome(reason=text[:1000])
    parsed = parse_quick(text, ctx.template, locale)
    if parsed.values and not parsed.problems:
        return TextOutcome(values={**dict(values), **parsed.values})
    if rev.stage == "fix" and rev.decreases and not reason and not parsed.values:
        return TextOutcome(reason=text[:1000])
    if parsed.problems:
        return TextOutcome(problems=parsed.problems)
    return TextOutcome(error=N_("Send corrected values in one message (for example "
                                "%(example)s), or use the buttons under the summary: edit or "
                                "cancel."),
                       params={"example": _example(ctx.template, locale)})


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _example(template: ReportTemplate, locale: str) -> str:
    f = next((f for f in template.fields if f.numeric), template.fields[0])
    name = f.aliases[0] if f.aliases and not locale.startswith("en") else f.key
    if locale.startswith("en"):
        name = next((a for a in f.aliases if a.isascii()), f.key)
    return f"{name} 10"
