"""The one Jinja2 environment: Telegram HTML templates with autoescape and gettext."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from bot.config import PROJECT_ROOT
from bot.i18n import Translator
from bot.util import timefmt

TEMPLATES_DIR = PROJECT_ROOT / "templates"


@lru_cache(maxsize=4)
def environment(templates_dir: Path = TEMPLATES_DIR) -> Environment:
    """Build (once) the shared environment; autoescape is on for every template."""
    env = Environment(
        loader=FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,  # eats the newline after a line-ending block tag: "+%}" keeps it
        lstrip_blocks=True,
        keep_trailing_newline=False,
        extensions=["jinja2.ext.i18n"],
        enable_async=False,
        auto_reload=False,  # templates ship with the code: no stat() per message
    )
    env.newstyle_gettext = True  # type: ignore[attr-defined]
    env.filters["period"] = _period
    env.globals["colon"] = _colon
    env.filters["local"] = _local
    return env


def _local(when: Any, fmt: str = timefmt.FORMAT) -> str:
    """`{{ when|local("%H:%M") }}`: an aware datetime in people's zone (Asia/Shanghai)."""
    return timefmt.local_time(when, timefmt.PEOPLE_TZ, fmt)


@pass_context
def _period(ctx: Context, start: Any, end: Any = None) -> str:
    """`{{ start|period(end) }}`: one date for a one-day period, in the reader's language."""
    return timefmt.period_text(start, end, str(ctx.get("locale") or "zh_CN"))


@pass_context
def _colon(ctx: Context) -> str:
    """`{{ colon() }}` after a label: ： in Chinese, ": " in English."""
    return timefmt.colon(str(ctx.get("locale") or "zh_CN"))


def _gettext_for(t: Translator) -> tuple[Any, Any]:
    @pass_context
    def gettext(ctx: Context, message: str, **variables: Any) -> str:
        rv: str = t.gettext(message)
        if ctx.eval_ctx.autoescape:
            rv = Markup(rv)
        return rv % variables if variables else rv

    @pass_context
    def ngettext(ctx: Context, singular: str, plural: str, n: int, **variables: Any) -> str:
        rv: str = t.ngettext(singular, plural, n)
        if ctx.eval_ctx.autoescape:
            rv = Markup(rv)
        variables.setdefault("num", n)
        return rv % variables

    return gettext, ngettext


_CALLABLES = "_jinja_gettext"


def render(name: str, t: Translator, /, **context: Any) -> str:
    """Render template `name` in the translator's language; the result is Telegram HTML."""
    pair = t.__dict__.get(_CALLABLES)
    if pair is None:  # built once per translator, not per message
        pair = t.__dict__[_CALLABLES] = _gettext_for(t)
    gettext, ngettext = pair
    template = environment().get_template(name)
    return template.render(
        gettext=gettext, _=gettext, ngettext=ngettext, locale=t.locale, **context
    ).strip()
