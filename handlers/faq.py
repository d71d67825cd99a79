"""The FAQ in chat: free text and /ask answered from the FAQ, alternatives when unsure,
"ask a person" to the help desk, helpful/not helpful votes, and inline mode (@bot query)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from aiogram import Dispatcher, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQuery,
    InlineQueryResultArticle,
    InlineQueryResultUnion,
    InputTextMessageContent,
    Message,
)
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import CallbackDataError, FaqAlternative, FaqHuman, FaqOthers, FaqVote
from bot.config import Settings
from bot.i18n import Catalogs, Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.faqdesk import answers as faq_answers
from bot.services.faqdesk import desk as faq_desk
from bot.services.faqdesk import log as faq_log
from bot.services.faqdesk.queue import FaqLimits, FaqQueue, FaqRefused
from bot.services.shared.errors import DomainError
from faq.content import DEFAULT_CONTENT_DIR, FaqEntry
from faq.embed_client import WorkerEmbedder
from faq.loader import FaqStore
from faq.sanitize import clean_text
from faq.semantic import DEFAULT_CACHE
from handlers.commands import N_, CommandInfo

log = logging.getLogger(__name__)

ORDER = 95
COMMANDS = (CommandInfo("ask", N_("Ask a question about the census"), args="…"),)
INLINE_RESULTS = 8
_BUTTON_CHARS = 60
# the FAQ index is built this long after start-up (or at the first question, if sooner), so
# that the first replies (/start) do not share the CPU with it
INDEX_BUILD_DELAY = 3.0


def faq_lang(locale: str) -> str:
    """The FAQ content language for a UI locale."""
    return "en" if locale.startswith("en") else "zh"


def _plain(html: str) -> str:
    """Answer text without its few tags (for inline descriptions)."""
    for tag in ("<b>", "</b>", "<i>", "</i>"):
        html = html.replace(tag, "")
    return html.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _short(text: str, n: int = _BUTTON_CHARS) -> str:
    """Text cut to n characters with an ellipsis."""
    return text if len(text) <= n else text[: n - 1] + "…"


def render_answer(entry: FaqEntry, i18n: Translator, index_entries: dict[str, FaqEntry],
                  *, ask_feedback: bool) -> str:
    """An FAQ answer in the user's language as Telegram HTML (content HTML is pre-checked)."""
    lang = faq_lang(i18n.locale)
    see_also = [index_entries[s].question_in(lang) for s in entry.see_also if s in index_entries]
    return render("faq/answer.html.j2", i18n, question=entry.question_in(lang),
                  answer=Markup(entry.answer_in(lang)), see_also=see_also[:3],
                  ask_feedback=ask_feedback)


def _vote_keyboard(i18n: Translator, qid: int, topic: str) -> InlineKeyboardMarkup:
    """👍 / 👎 under an answer, and the way to a person."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=i18n("👍 Helpful"),
                              callback_data=FaqVote(qid, "1", topic).pack()),
         InlineKeyboardButton(text=i18n("👎 Not helpful"),
                              callback_data=FaqVote(qid, "0", topic).pack())],
    ])


def _human_row(i18n: Translator, qid: int) -> list[InlineKeyboardButton]:
    """The "ask a person" button."""
    return [InlineKeyboardButton(text=i18n("🙋 Ask a person"), callback_data=FaqHuman(qid).pack())]


def _choices(i18n: Translator, qid: int, entries: list[FaqEntry],
             lang: str) -> InlineKeyboardMarkup:
    """One button per entry (each shows its answer), then "ask a person"."""
    rows = [[InlineKeyboardButton(text=_short(f"{n}. {e.question_in(lang)}"),
                                  callback_data=FaqAlternative(qid, e.id).pack())]
            for n, e in enumerate(entries, 1)]
    rows.append(_human_row(i18n, qid))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _refusal(exc: FaqRefused, i18n: Translator) -> str:
    """Why a question was not searched now, and when to ask again."""
    if exc.reason == "user":
        return i18n("You are asking questions faster than I can answer them. Please wait "
                    "%(seconds)s seconds and ask again.") % {"seconds": exc.retry_after}
    return i18n("Many people are asking questions right now. Please ask again in a minute; "
                "other commands such as /verify keep working.")


async def answer_question(
    message: Message, text: str, *, faq: FaqStore, faq_queue: FaqQueue, session: AsyncSession,
    i18n: Translator, locale: str, now: datetime,
) -> None:
    """Search the FAQ, store the question and reply: answer, alternatives or "ask a person"."""
    user_id = message.from_user.id if message.from_user else None
    out = await faq_answers.ask(session, text, faq=faq, faq_queue=faq_queue, user_id=user_id,
                                chat_id=message.chat.id, locale=locale, now=now)
    if out.refused is not None:
        await message.answer(_refusal(out.refused, i18n))
        return
    qid, lang = out.question_id, faq_lang(locale)
    if out.answer is not None and out.index is not None:
        await message.answer(render_answer(out.answer, i18n, out.index.by_id, ask_feedback=True),
                             reply_markup=_vote_keyboard(i18n, qid, out.answer.id))
        return
    if out.suggested is not None:
        kb = InlineKeyboardMarkup(inline_keyboard=[
            [InlineKeyboardButton(text=i18n("✅ Yes, show the answer"),
                                  callback_data=FaqAlternative(qid, out.suggested.id).pack())],
            [InlineKeyboardButton(text=i18n("🔎 See other questions"),
                                  callback_data=FaqOthers(qid).pack())],
            _human_row(i18n, qid),
        ])
        await message.answer(render("faq/did_you_mean.html.j2", i18n,
                                    question=out.suggested.question_in(lang)), reply_markup=kb)
        return
    await message.answer(render("faq/unknown.html.j2", i18n),
                         reply_markup=InlineKeyboardMarkup(inline_keyboard=[_human_row(i18n,
                                                                                       qid)]))


async def on_text(message: Message, faq: FaqStore, faq_queue: FaqQueue, session: AsyncSession,
                  i18n: Translator, locale: str, now: datetime) -> None:
    """Free text in a private chat outside any conversation: a question for the FAQ."""
    await answer_question(message, message.text or "", faq=faq, faq_queue=faq_queue,
                          session=session, i18n=i18n, locale=locale, now=now)


async def cmd_ask(message: Message, command: CommandObject, faq: FaqStore, faq_queue: FaqQueue,
                  session: AsyncSession, i18n: Translator, locale: str, now: datetime) -> None:
    """/ask TEXT: answer TEXT from the FAQ; /ask alone explains how."""
    text = (command.args or "").strip()
    if not text:
        example = "普查员证怎么查真假" if faq_lang(locale) == "zh" else "how do I check an ID"
        await message.answer(render("faq/ask_usage.html.j2", i18n, example=example))
        return
    await answer_question(message, text, faq=faq, faq_queue=faq_queue, session=session,
                          i18n=i18n, locale=locale, now=now)


async def on_vote(callback: CallbackQuery, session: AsyncSession, i18n: Translator,
                  now: datetime) -> None:
    """Store a 👍/👎 vote; after 👎 offer the way to a person."""
    try:
        vote = FaqVote.parse(callback.data)
    except CallbackDataError:
        await callback.answer()
        return
    qid, helpful, topic = vote.question_id, vote.helpful == "1", vote.topic
    added = await faq_log.record_vote(session, now=now, question_id=qid,
                                      user_id=callback.from_user.id, topic=topic,
                                      helpful=helpful)
    await callback.answer(i18n("Thank you for your feedback!") if added
                          else i18n("You have already voted on this answer."))
    msg = callback.message
    if isinstance(msg, Message):
        await msg.edit_reply_markup(reply_markup=None)
        if added and not helpful:
            await msg.answer(render("faq/not_helpful.html.j2", i18n),
                             reply_markup=InlineKeyboardMarkup(
                                 inline_keyboard=[_human_row(i18n, qid)]))


async def on_alternative(callback: CallbackQuery, faq: FaqStore, i18n: Translator) -> None:
    """One of the offered alternatives was chosen: show its answer with feedback buttons."""
    try:
        chosen = FaqAlternative.parse(callback.data)
    except CallbackDataError:
        await callback.answer()
        return
    qid, topic = chosen.question_id, chosen.entry_id
    index = await asyncio.to_thread(faq.index)
    entry = index.entry(topic)
    if entry is None:
        await callback.answer(i18n("This answer is no longer in the FAQ; please ask again."),
                              show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(render_answer(entry, i18n, index.by_id, ask_feedback=True),
                                      reply_markup=_vote_keyboard(i18n, qid, entry.id))


async def on_others(callback: CallbackQuery, faq: FaqStore, session: AsyncSession,
                    i18n: Translator, locale: str) -> None:
    """"See other questions" under a "did you mean": the other entries that might fit."""
    try:
        qid = FaqOthers.parse(callback.data).question_id
        asked = await faq_log.question_for(session, qid, callback.from_user.id)
    except CallbackDataError:
        await callback.answer()
        return
    except DomainError as exc:
        await callback.answer(exc.render(i18n), show_alert=True)
        return
    index = await asyncio.to_thread(faq.index)
    entries = await asyncio.to_thread(faq_answers.other_entries, index, asked.text)
    await callback.answer()
    if isinstance(callback.message, Message):
        lang = faq_lang(locale)
        if not entries:
            await callback.message.answer(
                render("faq/unknown.html.j2", i18n),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=[_human_row(i18n, qid)]))
            return
        await callback.message.answer(
            render("faq/unsure.html.j2", i18n, questions=[e.question_in(lang) for e in entries]),
            reply_markup=_choices(i18n, qid, entries, lang))


async def on_ask_person(callback: CallbackQuery, session: AsyncSession, i18n: Translator,
                        principal: Principal | None, catalogs: Catalogs, now: datetime) -> None:
    """Forward the question to the asker's help desk."""
    try:
        qid = FaqHuman.parse(callback.data).question_id
    except CallbackDataError:
        await callback.answer()
        return
    if principal is None:
        await callback.answer()
        return
    chat_id = callback.message.chat.id if callback.message else callback.from_user.id
    sent = await faq_desk.escalate(session, now=now, catalogs=catalogs, question_id=qid,
                                   principal=principal, chat_id=chat_id)
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(render("faq/escalated.html.j2", i18n, unit=sent.unit_name,
                                             id=sent.exchange_id, new=sent.new))


async def on_inline(query: InlineQuery, faq: FaqStore, i18n: Translator) -> None:
    """Inline mode: the FAQ entries matching the query, each sending its answer."""
    index = await asyncio.to_thread(faq.index)
    text = clean_text(query.query)
    if text:
        ranked, _ = index.rank(text, features=False)  # ranking only: no embedding needed
        entries = [index.entries[d] for d, _s in ranked[:INLINE_RESULTS]]
    else:
        entries = index.entries[:INLINE_RESULTS]
    lang = faq_lang(i18n.locale)
    results: list[InlineQueryResultUnion] = [
        InlineQueryResultArticle(
            id=e.id,
            title=_short(e.question_in(lang), 100),
            description=_short(_plain(e.answer_in(lang)), 120),
            input_message_content=InputTextMessageContent(
                message_text=render_answer(e, i18n, index.by_id, ask_feedback=False),
                parse_mode="HTML"),
        )
        for e in entries
    ]
    await query.answer(results, cache_time=60, is_personal=False)


async def load_faq(dispatcher: Dispatcher, settings: Settings) -> None:
    """Start-up: the FAQ store (content from CENSUSBOT_FAQ_DIR or the shipped files), its
    embedding worker and its queue. Only reads and checks the content: the index is built in
    the background a few seconds later or at the first question (questions wait for it,
    nothing else does), content missing from the
    embedding cache is embedded in the background by the worker, and questions are answered
    lexically until then."""
    if "faq" in dispatcher.workflow_data:
        return
    path = settings.faq_dir or DEFAULT_CONTENT_DIR
    worker = WorkerEmbedder(settings.faq_cache or DEFAULT_CACHE)
    worker.start()
    dispatcher["faq_worker"] = worker  # worker.alive(): "FAQ worker alive" for health checks
    dispatcher["faq_queue"] = FaqQueue(FaqLimits(per_user=settings.faq_per_minute,
                                                 capacity=settings.faq_queue))
    store = await asyncio.to_thread(FaqStore, path, settings.faq_reload_seconds, None, worker,
                                    background=True, build_delay=INDEX_BUILD_DELAY)
    dispatcher["faq"] = store
    log.info("FAQ content read from %s; its index is built in the background", path)


async def stop_faq(dispatcher: Dispatcher) -> None:
    """Shutdown: stop the FAQ queue and the embedding worker."""
    queue = dispatcher.workflow_data.pop("faq_queue", None)
    if isinstance(queue, FaqQueue):
        queue.close()
    worker = dispatcher.workflow_data.pop("faq_worker", None)
    if isinstance(worker, WorkerEmbedder):
        await asyncio.to_thread(worker.close)
    dispatcher.workflow_data.pop("faq", None)


def create_router() -> Router:
    """Free-text and /ask questions, answer buttons, and inline mode."""
    router = Router(name=__name__)
    router.startup.register(load_faq)
    router.shutdown.register(stop_faq)
    router.message.register(cmd_ask, Command("ask"))
    router.message.register(
        on_text, F.chat.type == ChatType.PRIVATE, F.text, ~F.text.startswith("/"),
        StateFilter(None),
    )
    router.callback_query.register(on_vote, F.data.startswith(FaqVote.head()))
    router.callback_query.register(on_alternative, F.data.startswith(FaqAlternative.head()))
    router.callback_query.register(on_others, F.data.startswith(FaqOthers.head()))
    router.callback_query.register(on_ask_person, F.data.startswith(FaqHuman.head()))
    router.inline_query.register(on_inline)
    return router
