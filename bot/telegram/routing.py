"""Make aiogram's routing cheaper without changing where any update goes.

- Synchronous filters run on the event loop. aiogram calls every callable that is not a
  coroutine function (magic `F.` filters, plain functions) through `asyncio.to_thread`, and it
  checks the filters of each candidate handler in turn: one thread hop (an executor submit and
  a wake-up of the loop) per filter per candidate, on every update. The filters are cheap, pure
  checks of the event; running them inline gives the same answers without the hops.
- Routers get a gate for messages. aiogram asks every handler of every router in turn, and a
  `Command` filter parses the message again for each. A router whose every message handler
  needs one of its own commands or one of its own conversation states is skipped at once when
  the message is neither (one check instead of one per handler). The gate only lets through a
  superset of what the handlers would take, so no update changes its handler.
- The bot's dispatcher (`SkippingDispatcher`) does not even enter a gated router whose gate
  turns a message away: aiogram would build the router's middleware chain and ask its gate
  through the filter machinery, only to be told "unhandled" (a message for a late router, the
  FAQ's free text above all, passed a dozen of them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.dispatcher.event.handler import FilterObject, HandlerObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command, Filter, StateFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Message, TelegramObject


def _inline(check: Callable[..., Any]) -> Callable[..., Any]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    inline.__wrapped__ = check  # type: ignore[attr-defined]
    return inline


def sync_filters(router: Router) -> list[FilterObject]:
    """Every filter of `router` and its sub-routers that aiogram would run in a thread."""
    found: list[FilterObject] = []
    for each in router.chain_tail:
        for observer in each.observers.values():
            if not isinstance(observer, TelegramEventObserver):
                continue
            for handler in (observer._handler, *observer.handlers):
                found += [f for f in handler.filters or () if not f.awaitable]
    return found


def inline_sync_filters(router: Router) -> int:
    """Make the synchronous filters awaitable in place (same arguments, same result, no
    thread); returns how many were changed. Call it once the routers are included."""
    changed = sync_filters(router)
    for item in changed:
        # The parameters aiogram hands the filter were read from the original callable.
        item.callback = _inline(item.callback)
        item.awaitable = True
    return len(changed)


class _Gate(Filter):
    """A router's message gate: one of its commands (as its Command filters read one), or one
    of its conversation states."""

    def __init__(self, commands: set[tuple[str, str, bool]], states: set[str]) -> None:
        self.commands = commands  # (prefixes, name, ignore_case)
        self.states = states

    async def __call__(self, message: Message, raw_state: str | None = None) -> bool:
        """Whether any handler of the router could take this message."""
        return self.admits(message, raw_state)

    def admits(self, message: Message, raw_state: str | None = None) -> bool:
        """Whether any handler of the router could take this message (on the spot)."""
        if raw_state is not None and raw_state in self.states:
            return True
        text = message.text or message.caption
        if not text or not self.commands:
            return False
        head = text.split(maxsplit=1)
        if not head:
            return False
        prefix, name = head[0][0], head[0][1:].partition("@")[0]  # as Command.extract_command
        folded = name.casefold()
        return any(prefix in prefixes and (folded if ignore_case else name) == command
                   for prefixes, command, ignore_case in self.commands)


def _target(item: FilterObject) -> Any:
    return getattr(item.callback, "__wrapped__", item.callback)


def _command_names(item: FilterObject) -> set[tuple[str, str, bool]] | None:
    """What a plain `Command` filter accepts (None for anything else, or a pattern)."""
    target = _target(item)
    if not isinstance(target, Command) or not all(isinstance(c, str) for c in target.commands):
        return None
    return {(target.prefix, str(c), target.ignore_case) for c in target.commands}


def _state_names(item: FilterObject) -> set[str] | None:
    """The states a state filter accepts (None unless it is one that rejects "no state")."""
    target = _target(item)
    allowed: list[Any] = list(target.states) if isinstance(target, StateFilter) else [target]
    names: set[str] = set()
    for each in allowed:
        if isinstance(each, State) and each.state not in (None, "*"):
            names.add(str(each.state))
        elif isinstance(each, type) and issubclass(each, StatesGroup):
            names.update(each.__all_states_names__)
        elif isinstance(each, StatesGroup):
            names.update(type(each).__all_states_names__)
        else:  # a plain string, None, "*", anything else: not a gate
            return None
    return names


def _gate_for(handlers: list[HandlerObject]) -> _Gate | None:
    commands: set[tuple[str, str, bool]] = set()
    states: set[str] = set()
    for handler in handlers:
        filters = list(handler.filters or ())
        needed = next((c for f in filters if (c := _command_names(f)) is not None), None)
        if needed is not None:
            commands |= needed
            continue
        needed_states = next((n for f in filters if (n := _state_names(f)) is not None), None)
        if needed_states is None:
            return None  # this handler may take a message that is neither
        states |= needed_states
    return _Gate(commands, states) if handlers else None


def gate_routers(router: Router) -> int:
    """Give each router (without sub-routers) whose message handlers all need a command or a
    state of its own a gate for messages; returns how many were gated. Call it once the routers
    are included, before `inline_sync_filters`. A `SkippingDispatcher` learns which of its own
    routers it may pass over."""
    gated = 0
    for each in router.chain_tail:
        observer = each.message
        if each.sub_routers or observer._handler.filters or not observer.handlers:
            continue
        gate = _gate_for(observer.handlers)
        if gate is not None:
            observer.filter(gate)
            gated += 1
            if (isinstance(router, SkippingDispatcher) and each.parent_router is router
                    and not observer.outer_middleware):  # entering it runs nothing else
                router.skip_gates[each] = gate
    return gated


class SkippingDispatcher(Dispatcher):
    """aiogram's Dispatcher, except that a message passes over each of its gated routers
    whose gate turns it away (`gate_routers` names them), instead of entering the router to
    hear "unhandled" from the same gate. Every other update, and every router without a
    gate, goes exactly as in aiogram."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As Dispatcher; no router is skipped until `gate_routers` ran."""
        super().__init__(*args, **kwargs)
        self.skip_gates: dict[Router, _Gate] = {}

    async def _propagate_event(self, observer: TelegramEventObserver | None, update_type: str,
                               event: TelegramObject, **kwargs: Any) -> Any:
        own = observer is not None and (observer.handlers or observer._handler.filters)
        if update_type != "message" or not self.skip_gates or own:
            return await super()._propagate_event(observer, update_type, event, **kwargs)
        raw_state = kwargs.get("raw_state")
        for router in self.sub_routers:
            gate = self.skip_gates.get(router)
            if gate is not None and not gate.admits(event, raw_state):  # type: ignore[arg-type]
                continue
            response = await router.propagate_event(update_type=update_type, event=event,
                                                    **kwargs)
            if response is not UNHANDLED:
                return response
        return UNHANDLED
