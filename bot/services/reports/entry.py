"""Report entry as a service: each input (the command, a typed value, a button, a unit chosen,
an uploaded spreadsheet) goes in as plain data with a session and `now`, and a `Step` comes out
saying what to show and ask next. The draft lives in report_drafts; nothing is saved as a
report before Confirm.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import ReportUnit
from bot.db.models.reports import ReportDraft
from bot.services.access.principal import Principal
from bot.services.reports import submission as svc
from bot.services.reports.cadence import Assignment
from bot.services.reports.checks import apply_text, review
from bot.services.reports.quickform import parse_number, parse_quick
from bot.services.reports.steps import (
    CANCEL_ROW,
    N_,
    Button,
    Document,
    Reply,
    Step,
    action,
    ask_field,
    problem_texts,
    suggestion,
    summary,
)
from bot.services.reports.templates import Field, Problem, Value, check_value, get_template
from bot.services.reports.xlsx import build_report_xlsx, read_report_upload
from bot.services.shared.errors import DomainError
from bot.util.timefmt import period_text

TEMPLATE_WORDS = {"template", "xlsx", "excel", "模板", "表格"}
HELP_WORDS = {"help", "帮助", "?", "？"}
MAX_UPLOAD = 2 * 1024 * 1024
REFUSED = "reports/refused.html.j2"
CANCELLED = N_("Report cancelled; nothing was saved.")


class Entry:
    """One input's worth of report entry: the session, who, their language, the clock."""

    def __init__(self, session: AsyncSession, principal: Principal | None, *, locale: str,
                 t: Any, tz: Any, now: datetime) -> None:
        self.session, self.principal, self.locale = session, principal, locale
        self.t, self.tz, self.now = t, tz, now

    # ------------------------------------------------------------------------ building blocks

    def _alias_list(self, f: Field) -> str:
        """The quick-form names to show: Chinese ones to a Chinese reader, all to an English
        one."""
        if self.locale.startswith("en"):
            return ", ".join(f.aliases[:4])
        return "、".join([a for a in f.aliases if not a.isascii()][:4])

    def _unit_buttons(self, found: list[Assignment], kind: str) -> list[list[Button]]:
        phases = {a.phase for a in found}
        rows = []
        for a in found:
            label = a.unit.display_name(self.locale)
            if len(phases) > 1:
                label = f"{label} · {get_template(a.phase).name_for(self.locale)}"
            rows.append([Button(label, ReportUnit(kind, a.unit.code, a.phase).pack(),
                                literal=True)])
        rows.append(CANCEL_ROW)
        return rows

    async def _save(self, draft: ReportDraft, **changes: Any) -> ReportDraft:
        """Save the draft with `changes` over its current fields."""
        fields: dict[str, Any] = {
            "phase": draft.phase, "unit_code": draft.unit_code, "values": dict(draft.values),
            "cursor": draft.cursor, "stage": draft.stage, "source": draft.source,
            "reason": draft.reason, "new_found": draft.new_found}
        fields.update(changes)
        return await svc.save_draft(self.session, user_id=draft.user_id, now=self.now, **fields)

    async def _summary(self, step: Step, ctx: svc.ReportContext, draft: ReportDraft, *,
                       changed: dict[str, Any] | None = None, error: str | None = None) -> Step:
        """Validate the whole draft (with `changed` fields) and show it with Confirm."""
        changed = changed or {}
        values = dict(changed.get("values", draft.values))
        reason = changed.get("reason", draft.reason)
        new_found = changed.get("new_found", draft.new_found)
        rev = review(ctx, values, reason=reason, new_found=new_found, locale=self.locale)
        if rev.stage != draft.stage or changed:
            await self._save(draft, values=values, reason=reason, new_found=new_found,
                             stage=rev.stage)
        step.replies.append(summary(ctx, values, reason, new_found, rev, locale=self.locale,
                                    t=self.t, tz=self.tz, now=self.now, error=error))
        return step

    async def _context(self, unit_code: str, phase: str,
                       found: Assignment | None = None) -> svc.ReportContext:
        return await svc.context(self.session, self.principal, unit_code, phase, self.now,
                                 found)

    async def _start_guided(self, unit_code: str, phase: str, step: Step,
                            found: Assignment | None = None) -> Step:
        assert self.principal is not None
        ctx = await self._context(unit_code, phase, found)
        await svc.save_draft(self.session, user_id=self.principal.user_id, now=self.now,
                             phase=phase, unit_code=unit_code, values={}, cursor=0,
                             stage="fields", source="guided")
        step.fsm = "active"
        step.show("reports/start.html.j2", unit=ctx.assignment.unit.display_name(self.locale),
                  table=ctx.template.name_for(self.locale),
                  period=period_text(ctx.period, locale=self.locale),
                  correction=ctx.current is not None,
                  version=(ctx.current.version + 1) if ctx.current else 1)
        step.replies.append(ask_field(ctx, 0, {}, self.locale))
        return step

    async def _begin_values(self, unit_code: str, phase: str, values: dict[str, Value],
                            problems: list[Problem], source: str, step: Step,
                            found: Assignment | None = None) -> Step:
        """Quick form / spreadsheet values: refuse parse errors, else the summary."""
        ctx = await self._context(unit_code, phase, found)
        if problems:
            return step.show("reports/problems.html.j2",
                             problems=problem_texts(problems, self.t), saved=False)
        merged = _carry_over(ctx, values)
        assert self.principal is not None
        draft = await svc.save_draft(
            self.session, user_id=self.principal.user_id, now=self.now, phase=phase,
            unit_code=unit_code, values=merged, cursor=len(ctx.template.fields),
            stage="confirm", source=source)
        step.fsm = "active"
        return await self._summary(step, ctx, draft)

    async def _quick(self, found: Assignment, text: str, step: Step) -> Step:
        result = parse_quick(text, get_template(found.phase), self.locale)
        if not result.values and not result.problems:
            return await self._start_guided(found.unit.code, found.phase, step, found)
        return await self._begin_values(found.unit.code, found.phase, result.values,
                                        result.problems, "quick", step, found)

    async def _template(self, unit_code: str, phase: str, step: Step) -> Step:
        ctx = await self._context(unit_code, phase)
        content = build_report_xlsx(
            template=ctx.template, unit_code=unit_code,
            unit_name=ctx.assignment.unit.display_name(self.locale),
            period_start=ctx.period.start, period_end=ctx.period.end, targets=ctx.targets,
            previous=ctx.previous, current=dict(ctx.current.values) if ctx.current else {},
            locale=self.locale, t=self.t)
        name = f"report_{unit_code}_{phase}_{ctx.period.start.isoformat()}.xlsx"
        step.replies.append(Reply(document=Document(content, name,
                                                    "reports/template_caption.html.j2")))
        return step

    # ------------------------------------------------------------------------------- inputs

    async def command(self, args: str) -> Step:
        """/report [unit] [quick form | template | help]."""
        step = Step()
        args = args.strip()
        found = await svc.reportable(self.session, self.principal)
        if args.lower() in HELP_WORDS:
            phases = sorted({a.phase for a in found}) or ["survey"]
            return step.show("reports/help.html.j2", tables=[
                {"name": get_template(p).name_for(self.locale),
                 "fields": [{"label": f.label_for(self.locale), "aliases": self._alias_list(f),
                             "required": f.required} for f in get_template(p).fields]}
                for p in phases])
        if not found or self.principal is None:
            return step.show(REFUSED)
        if args.lower() in TEMPLATE_WORDS:
            if len(found) == 1:
                return await self._template(found[0].unit.code, found[0].phase, step)
            return step.show("reports/choose_unit.html.j2", self._unit_buttons(found, "x"))
        if args:
            first, _, rest = args.partition(" ")
            chosen = [a for a in found if a.unit.code == first]
            if chosen:
                args, found = rest.strip(), chosen
            if len(found) == 1:
                return await self._quick(found[0], args, step)
            await svc.discard_draft(self.session, self.principal.user_id)
            step.fsm, step.fsm_data = "active", {"quick": args}
            return step.show("reports/choose_unit.html.j2", self._unit_buttons(found, "q"))
        draft = await svc.get_draft(self.session, self.principal.user_id)
        if draft is not None and draft.unit_code is not None:
            unit = next((a.unit for a in found if a.unit.code == draft.unit_code), None)
            if unit is not None:
                fields = get_template(draft.phase).fields
                step.fsm = "active"
                return step.show(
                    "reports/resume.html.j2",
                    [[Button(N_("Continue"), action("resume")),
                      Button(N_("Start over"), action("restart"))], CANCEL_ROW],
                    unit=unit.display_name(self.locale),
                    table=get_template(draft.phase).name_for(self.locale),
                    done=min(draft.cursor, len(fields)), total=len(fields))
        if len(found) == 1:
            return await self._start_guided(found[0].unit.code, found[0].phase, step)
        return step.show("reports/choose_unit.html.j2", self._unit_buttons(found, "g"))

    async def text(self, text: str) -> Step:
        """A message while a report is open: the value asked for, or text at the summary."""
        step = Step()
        draft = (await svc.get_draft(self.session, self.principal.user_id)
                 if self.principal else None)
        if draft is None or draft.unit_code is None:
            step.fsm = "clear"
            return step.say(N_("There is no report open. Send /report to start one."))
        ctx = await self._context(draft.unit_code, draft.phase)
        text = text.strip()
        if draft.stage != "fields":
            return await self._summary_text(ctx, draft, text, step)
        f = ctx.template.fields[draft.cursor]
        value: Value | None = text if f.type == "text" else parse_number(text)
        if value is None:
            error = self.t("%(field)s: enter a number, for example 120.") % {
                "field": f.label_for(self.locale)}
            step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale, error))
            return step
        return await self._accept(ctx, draft, f, value, step)

    async def _summary_text(self, ctx: svc.ReportContext, draft: ReportDraft, text: str,
                            step: Step) -> Step:
        """Corrected values, a 新增 count or a reason typed at the summary."""
        values = dict(draft.values)
        rev = review(ctx, values, reason=draft.reason, new_found=draft.new_found,
                     locale=self.locale)
        got = apply_text(ctx, values, rev, text, reason=draft.reason,
                         new_found=draft.new_found, locale=self.locale)
        changed: dict[str, Any] = {}
        if got.values is not None:
            changed["values"] = got.values
        if got.reason is not None:
            changed["reason"] = got.reason
        if got.new_found is not None:
            changed["new_found"] = got.new_found
        error = None
        if got.problems:
            error = "\n".join(problem_texts(got.problems, self.t))
        elif got.error:
            error = self.t(got.error) % (got.params or {})
        return await self._summary(step, ctx, draft, changed=changed, error=error)

    async def _accept(self, ctx: svc.ReportContext, draft: ReportDraft, f: Field,
                      value: Value, step: Step) -> Step:
        """Keep one value and ask the next field, or say what is wrong and ask again."""
        target = ctx.targets.get(f.target) if f.target else None
        problems = [p for p in check_value(f, value, label=f.label_for(self.locale),
                                           target=target) if p.hard]
        values = dict(draft.values)
        values[f.key] = value
        if not problems:
            problems = [p for p in svc.check(ctx, values, self.locale, complete=False)
                        if p.field == f.key and p.hard]
        if problems:
            step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale,
                                          problems[0].render(self.t)))
            return step
        return await self._advance(ctx, draft, values, step)

    async def _advance(self, ctx: svc.ReportContext, draft: ReportDraft,
                       values: dict[str, Any], step: Step) -> Step:
        draft = await self._save(draft, values=values, cursor=draft.cursor + 1,
                                 stage="fields", new_found=None)
        if draft.cursor >= len(ctx.template.fields):
            return await self._summary(step, ctx, draft)
        step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale))
        return step

    async def cancel(self) -> Step:
        """/cancel or the Cancel button: the draft is discarded, nothing is saved."""
        if self.principal is not None:
            await svc.discard_draft(self.session, self.principal.user_id)
        return Step(fsm="clear").say(CANCELLED)

    async def button(self, name: str) -> Step:
        """Back, keep, skip, edit, resume, restart, confirm, nf, cancel; a broken rule comes
        back as the step's error (shown as a message under the buttons' message)."""
        try:
            return await self._button(name)
        except DomainError as exc:
            return Step(error=exc)

    async def _button(self, name: str) -> Step:
        assert self.principal is not None
        if name == "cancel":
            step = await self.cancel()
            step.clear_markup = True
            return step
        draft = await svc.get_draft(self.session, self.principal.user_id)
        if draft is None or draft.unit_code is None:
            return Step(alert=N_("This report is no longer open. Send /report to start."))
        ctx = await self._context(draft.unit_code, draft.phase)
        fields = ctx.template.fields
        if name == "restart":
            return await self._start_guided(draft.unit_code, draft.phase, Step())
        if name == "confirm":
            return await self._confirm(ctx, draft)
        if name == "nf":  # every object above the target is newly found
            rev = review(ctx, dict(draft.values), reason=draft.reason,
                         new_found=draft.new_found, locale=self.locale)
            changed = {}
            if rev.stage == "newfound":
                key = rev.pending[0]
                changed["new_found"] = {**(draft.new_found or {}), key: int(rev.needed[key])}
            return await self._summary(Step(clear_markup=True), ctx, draft, changed=changed)
        step = Step(clear_markup=True, fsm="active")
        if name == "resume":
            if draft.cursor >= len(fields):
                return await self._summary(step, ctx, draft)
            if draft.stage != "fields":
                draft = await self._save(draft, stage="fields")
            step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale))
            return step
        if name == "edit":
            draft = await self._save(draft, cursor=0, stage="fields", source="guided",
                                     reason=None, new_found=None)
            step.replies.append(ask_field(ctx, 0, draft.values, self.locale))
            return step
        if draft.stage != "fields" or draft.cursor >= len(fields):
            return step
        return await self._field_button(name, ctx, draft, fields[draft.cursor], step)

    async def _field_button(self, name: str, ctx: svc.ReportContext, draft: ReportDraft,
                            f: Field, step: Step) -> Step:
        """Back, keep or skip at a field."""
        if name == "back":
            draft = await self._save(draft, cursor=max(0, draft.cursor - 1), stage="fields",
                                     new_found=None)
            step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale))
        elif name == "keep":
            offered = suggestion(ctx, draft.values, f)
            if offered is not None:
                return await self._accept(ctx, draft, f, offered, step)
            step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale))
        elif name == "skip":
            if f.required:
                error = self.t("%(field)s is required.") % {"field": f.label_for(self.locale)}
                step.replies.append(ask_field(ctx, draft.cursor, draft.values, self.locale,
                                              error))
                return step
            values = {k: v for k, v in draft.values.items() if k != f.key}
            return await self._advance(ctx, draft, values, step)
        return step

    async def _confirm(self, ctx: svc.ReportContext, draft: ReportDraft) -> Step:
        if draft.stage != "confirm":
            return Step().say(N_("Fix the problems shown first."))
        report = await svc.submit(
            self.session, principal=self.principal, unit_code=draft.unit_code or "",
            phase=draft.phase, values=dict(draft.values), source=draft.source, now=self.now,
            locale=self.locale, reason=draft.reason, new_found=draft.new_found, ctx=ctx)
        late = report.submitted_at > report.deadline and report.version == 1
        return Step(fsm="clear", clear_markup=True).show(
            "reports/saved.html.j2", unit=ctx.assignment.unit.display_name(self.locale),
            period=period_text(report.period_start, report.period_end, self.locale),
            version=report.version, late=late,
            new_found=sum((report.new_found or {}).values()),
            rate=ctx.template.completion_rate(report.values, ctx.targets))

    async def unit_chosen(self, choice: ReportUnit, quick: str) -> Step:
        """A unit button: g guided, q the quick form waiting (`quick`), x template, n guided;
        a broken rule (not this user's unit) comes back as the step's error."""
        try:
            return await self._unit_chosen(choice, quick)
        except DomainError as exc:
            return Step(error=exc)

    async def _unit_chosen(self, choice: ReportUnit, quick: str) -> Step:
        found = await svc.authorize(self.session, self.principal, choice.unit_code,
                                    choice.phase)
        step = Step(clear_markup=True)
        if choice.kind == "x":
            return await self._template(choice.unit_code, choice.phase, step)
        if choice.kind == "q":
            return await self._quick(found, quick, step)
        return await self._start_guided(choice.unit_code, choice.phase, step)

    async def upload_refusal(self, size: int | None) -> Step | None:
        """Why a spreadsheet from this user is not read (not a reporter, too large), or None."""
        found = await svc.reportable(self.session, self.principal)
        if not found or self.principal is None:
            return Step().show(REFUSED)
        if size and size > MAX_UPLOAD:
            return Step().say(N_("The file is too large for a report form (at most 2 MB)."))
        return None

    async def upload(self, content: bytes) -> Step:
        """A filled-in report spreadsheet: read it and show the summary to confirm."""
        parsed = await read_report_upload(content, self.locale)
        return await self._begin_values(parsed.unit_code, parsed.phase, parsed.values,
                                        parsed.problems, "xlsx", Step())


def _carry_over(ctx: svc.ReportContext, values: dict[str, Value]) -> dict[str, Value]:
    """Quick form and spreadsheet: fields not given keep this period's or cumulative values."""
    base: dict[str, Value] = {}
    if ctx.current is not None:
        base = dict(ctx.current.values)
    else:
        for f in ctx.template.fields:
            prev = ctx.previous.get(f.key)
            if f.monotonic and isinstance(prev, int | float):
                base[f.key] = prev
    base.update(values)
    return base
