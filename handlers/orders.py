"""/order and /orders: supervision orders (督办) and their buttons — acknowledge (收到),
answer (答复, text then optional photos or documents), close (办结), return (退回), and the
one-tap order offered on escalation, behind-plan and returned-report notices."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import AnswerDone, CallbackDataError, NewOrder, Supervision
from bot.config import Settings
from bot.db.models.supervision import ACKNOWLEDGED, ISSUED, RETURNED
from bot.i18n import Translator
from bot.rendering import render
from bot.services.access.principal import Principal
from bot.services.shared.errors import DomainError
from bot.services.supervision import order_entry as entry
from bot.services.supervision import orders as svc
from bot.services.supervision.config import SupervisionConfig, load_config
from bot.util.echo import shown
from handlers.buttons import drop_buttons, markup, refuse, tail_id
from handlers.commands import N_, CommandInfo
from handlers.conversation import refuse_text

ORDER = 38
COMMANDS = (
    CommandInfo("order", N_("Issue a supervision order to a unit below your office"),
                roles=frozenset(svc.ISSUER_ROLES), args="UNIT_CODE [YYYY-MM-DD] TEXT"),
    CommandInfo("orders", N_("Open supervision orders: list, /orders N for one, /orders xlsx"),
                roles=frozenset({"office_head", "leader", "admin", "liaison"}),
                args="[N|xlsx]"),
)


class OrderAnswer(StatesGroup):
    """The unit is answering an order: the text, then optional photos or documents."""

    text = State()
    files = State()


class OrderReturn(StatesGroup):
    """The issuer is giving the reason for returning an answer."""

    reason = State()


def config(settings: Settings) -> SupervisionConfig:
    """The supervision settings of this installation."""
    return load_config(settings.data_dir)


async def ask_in_writing(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                         step: State, data: dict[str, Any], prompt: str, *,
                         drop: bool = True) -> None:
    """After a checked button: remember `data`, wait for the text of `step`, show `prompt`."""
    await state.set_state(step)
    await state.update_data(**data)
    await callback.answer()
    if drop:
        await drop_buttons(callback)
    if isinstance(callback.message, Message):
        await callback.message.answer(prompt)


# --------------------------------------------------------------------------- /order


async def cmd_order(message: Message, command: CommandObject, session: AsyncSession,
                    principal: Principal | None, i18n: Translator, now: datetime,
                    settings: Settings) -> None:
    """/order UNIT_CODE [YYYY-MM-DD] TEXT: issue a numbered order."""
    parsed = entry.parse_order(command.args)  # a bad due date: DomainError
    if parsed is None:
        parts = (command.args or "").split(maxsplit=1)
        missing = (i18n("/order %(unit)s: the order text is missing; write it after the unit "
                        "code.") % {"unit": shown(parts[0])} if parts else "")
        await message.answer((missing + "\n\n" if missing else "")
                             + render("supervision/usage.html.j2", i18n))
        return
    out = await svc.issue(session, principal=principal, unit_code=parsed.unit_code,
                          text=parsed.text, now=now, cfg=config(settings), due=parsed.due)
    await message.answer(render("supervision/issued.html.j2", i18n, created=out.created,
                                recipients=out.recipients, **out.view.context()))


async def on_new(callback: CallbackQuery, session: AsyncSession, principal: Principal | None,
                 i18n: Translator, now: datetime, settings: Settings) -> None:
    """One tap on an escalation, behind-plan or returned-report notice: issue the order with
    the text that notice suggests."""
    try:
        offer = NewOrder.parse(callback.data)
    except CallbackDataError:
        await callback.answer()
        return
    out = await entry.issue_offered(session, offer, principal=principal, t=i18n, now=now,
                                    cfg=config(settings))
    await callback.answer()
    await drop_buttons(callback)
    if isinstance(callback.message, Message):
        await callback.message.answer(render(
            "supervision/issued.html.j2", i18n, created=out.created, recipients=out.recipients,
            **out.view.context()))


# --------------------------------------------------------------------------- the unit


async def on_ack(callback: CallbackQuery, session: AsyncSession, principal: Principal | None,
                 i18n: Translator, now: datetime, settings: Settings) -> None:
    """收到: acknowledge for the whole unit; a second press says who already did."""
    step = await svc.acknowledge(session, tail_id(callback), principal=principal, now=now,
                                 cfg=config(settings))
    o = step.view.order
    answer_only = svc.recipient_markup(o.id, ack=False)(i18n)
    if step.changed:
        await callback.answer(i18n("Acknowledged. Answer with the Answer button when done."))
    else:
        await callback.answer(render("supervision/already_acked.html.j2", i18n, order=o,
                                     when=svc.local(o.acknowledged_at or o.created_at)),
                              show_alert=True)
    await drop_buttons(callback, answer_only if o.state in (ACKNOWLEDGED, RETURNED) else None)


async def on_answer(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                    principal: Principal | None, i18n: Translator) -> None:
    """答复: ask for the written answer."""
    oid = tail_id(callback)
    try:
        await svc.check_answerable(session, oid, principal)
    except DomainError as exc:
        await refuse(callback, exc, i18n)
        return
    await ask_in_writing(callback, state, session, OrderAnswer.text,
                         {"order_id": oid, "files": []}, i18n(
                             "Write the answer as one message (at most %(max)s characters). "
                             "/cancel stops without answering.") % {"max": svc.TEXT_MAX},
                         drop=False)


async def on_answer_text(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Keep the text; ask for optional photos or documents."""
    text = message.text or ""
    svc.clean_text(text)
    await state.update_data(text=text)
    await state.set_state(OrderAnswer.files)
    await message.answer(i18n("Send photos or documents as evidence if you have any, then "
                              "press Send answer. Or press it now to answer without them."),
                         reply_markup=markup(_send_button(i18n)))


def _send_button(i18n: Translator) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": i18n("Send answer"),
                                  "callback_data": AnswerDone().pack()}]]}


async def on_answer_file(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Collect one photo or document for the answer."""
    data = await state.get_data()
    files = list(data.get("files") or [])
    if len(files) >= svc.FILES_MAX:
        await message.answer(i18n("At most %(max)s files can go with an answer; press Send "
                                  "answer.") % {"max": svc.FILES_MAX},
                             reply_markup=markup(_send_button(i18n)))
        return
    if message.photo:
        files.append({"type": "photo", "file_id": message.photo[-1].file_id})
    elif message.document:
        files.append({"type": "document", "file_id": message.document.file_id})
    await state.update_data(files=files)
    await message.answer(i18n("File %(n)s received. Send more, or press Send answer.")
                         % {"n": len(files)}, reply_markup=markup(_send_button(i18n)))


async def on_answer_other(message: Message, i18n: Translator) -> None:
    """Something else while collecting files."""
    await message.answer(i18n("Send a photo or a document, or press Send answer."),
                         reply_markup=markup(_send_button(i18n)))


async def on_answer_done(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                         principal: Principal | None, i18n: Translator, now: datetime,
                         settings: Settings) -> None:
    """Send the answer to the issuer."""
    if await state.get_state() != OrderAnswer.files.state:
        await callback.answer(i18n("This answer was already sent."), show_alert=True)
        await drop_buttons(callback)
        return
    data = await state.get_data()
    try:
        step = await svc.answer(session, int(data.get("order_id") or 0), principal=principal,
                                text=str(data.get("text") or ""),
                                files=list(data.get("files") or []), now=now,
                                cfg=config(settings))
    except DomainError as exc:
        await session.rollback()
        await state.clear()
        await callback.answer(exc.render(i18n), show_alert=True)
        await drop_buttons(callback)
        return
    await state.clear()
    await callback.answer()
    await drop_buttons(callback)
    if isinstance(callback.message, Message):
        await callback.message.answer(render("supervision/answer_sent.html.j2", i18n,
                                             **step.view.context()))


async def on_cancel(message: Message, state: FSMContext, i18n: Translator) -> None:
    """Leave the answer or the return without sending anything."""
    await state.clear()
    await message.answer(i18n("Nothing was sent."))


# --------------------------------------------------------------------------- the issuer


async def on_close(callback: CallbackQuery, session: AsyncSession, principal: Principal | None,
                   i18n: Translator, now: datetime, settings: Settings) -> None:
    """办结: close the order; the unit hears it."""
    step = await svc.close(session, tail_id(callback), principal=principal, now=now,
                           cfg=config(settings))
    await drop_buttons(callback)
    if not step.changed:
        await callback.answer(svc.already(step.view.order).render(i18n), show_alert=True)
        return
    await callback.answer()
    if isinstance(callback.message, Message):
        await callback.message.answer(render("supervision/closed_ok.html.j2", i18n,
                                             **step.view.context()))


async def on_return(callback: CallbackQuery, state: FSMContext, session: AsyncSession,
                    principal: Principal | None, i18n: Translator, settings: Settings) -> None:
    """退回: ask for the reason."""
    oid = tail_id(callback)
    try:
        await svc.check_returnable(session, oid, principal, config(settings))
    except DomainError as exc:
        await refuse(callback, exc, i18n)
        return
    await ask_in_writing(callback, state, session, OrderReturn.reason, {"order_id": oid},
                         i18n("Why is the answer returned? Write the reason as one message. "
                              "/cancel keeps the answer as it is."))


async def on_return_reason(message: Message, state: FSMContext, session: AsyncSession,
                           principal: Principal | None, i18n: Translator, now: datetime,
                           settings: Settings) -> None:
    """Return the answer with the reason; the unit answers again."""
    data = await state.get_data()
    try:
        step = await svc.return_answer(session, int(data.get("order_id") or 0),
                                       principal=principal, reason=message.text or "", now=now,
                                       cfg=config(settings))
    except DomainError as exc:
        await refuse_text(message, state, session, exc, i18n)
        return
    await state.clear()
    await message.answer(render("supervision/returned_ok.html.j2", i18n,
                                **step.view.context()))


# --------------------------------------------------------------------------- /orders


async def cmd_orders(message: Message, command: CommandObject, session: AsyncSession,
                     principal: Principal | None, i18n: Translator, now: datetime,
                     settings: Settings) -> None:
    """/orders, /orders N (one order and its timeline), /orders xlsx."""
    arg = (command.args or "").strip().lower()
    cfg = config(settings)
    if principal is None or not principal.grants:
        await message.answer(i18n("Supervision orders are for census offices and liaisons."))
        return
    if arg in ("xlsx", "excel", "表格"):
        from bot.services.supervision.xlsx import build_orders_xlsx

        content = await build_orders_xlsx(session, principal, cfg, i18n, now=now)
        await message.answer_document(BufferedInputFile(
            content, f"orders-{now.astimezone(svc.SHANGHAI).date().isoformat()}.xlsx"))
        return
    if arg and not (arg.lstrip("#").isdigit() and len(arg) < 19):
        await message.answer(i18n("/orders: “%(word)s” is not an order number. Send /orders N "
                                  "(for example /orders 3) for one order, or /orders xlsx.")
                             % {"word": shown((command.args or "").strip())})
        return
    if arg.lstrip("#").isdigit() and len(arg) < 19:
        v, events = await svc.detail(session, int(arg.lstrip("#")), principal, cfg)
        o = v.order
        buttons = None
        if svc.is_recipient(principal, o.unit_code) and o.state in (ISSUED, ACKNOWLEDGED,
                                                                    RETURNED):
            buttons = svc.recipient_markup(o.id, ack=o.state == ISSUED)(i18n)
        await message.answer(render(
            "supervision/detail.html.j2", i18n, events=[
                {"kind": e.kind, "at": svc.local(e.at), "detail": e.detail} for e in events],
            **v.context()), reply_markup=markup(buttons))
        return
    rows = await entry.open_rows(session, principal, cfg, now)
    await message.answer(render("supervision/list.html.j2", i18n, rows=rows[:entry.LIST_MAX],
                                more=max(0, len(rows) - entry.LIST_MAX)))


def create_router() -> Router:
    """Routes for /order, /orders and the order buttons."""
    router = Router(name=__name__)
    for st in (OrderAnswer.text, OrderAnswer.files, OrderReturn.reason):
        router.message.register(on_cancel, st, Command("cancel"))
    router.message.register(on_answer_text, OrderAnswer.text, F.text, ~F.text.startswith("/"))
    router.message.register(on_answer_file, OrderAnswer.files, F.photo | F.document)
    router.message.register(on_answer_other, OrderAnswer.files, ~F.text.startswith("/"))
    router.message.register(on_return_reason, OrderReturn.reason, F.text,
                            ~F.text.startswith("/"))
    router.message.register(cmd_order, Command("order"))
    router.message.register(cmd_orders, Command("orders"))
    router.callback_query.register(on_ack, F.data.startswith(Supervision.head() + "ack:"))
    router.callback_query.register(on_answer, F.data.startswith(Supervision.head() + "ans:"))
    router.callback_query.register(on_answer_done, F.data == AnswerDone().pack())
    router.callback_query.register(on_close, F.data.startswith(Supervision.head() + "cls:"))
    router.callback_query.register(on_return, F.data.startswith(Supervision.head() + "ret:"))
    router.callback_query.register(on_new, F.data.startswith(NewOrder.head()))
    return router
