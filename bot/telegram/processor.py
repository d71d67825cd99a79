"""Durable update processing: store first, acknowledge, then process each update once, in order.

An update is written to `inbox_updates` before Telegram is told it was received (the next
getUpdates offset, or the webhook's 200). Processing is per chat: whichever process holds the
chat's claim (bot.telegram.claims: a PostgreSQL advisory lock, so any number of processes can
share the inbox; in-process on SQLite) takes the chat's pending updates lowest update_id first
and runs them through the dispatcher. The handler's commit marks the update done in the same
transaction (bot.db.session_hooks); a read-only handler's update is marked done when it returns.
A process that finds a chat claimed by another tries again a few times within about 1.5 s
(an update it stored after the holder's last pick is its own to run). A claim dies with its
process's connection, and a periodic sweep (and `recover` on start) picks up whatever a dead
process left pending. A redelivered update is a no-op.

Poison updates: a handler that raises or outlives CENSUSBOT_UPDATE_TIMEOUT is retried, up to
CENSUSBOT_UPDATE_ATTEMPTS starts in all (counted in the row, so a crash mid-handling counts
too); then the update is parked with its error and the user gets one apology.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import ErrorEvent, Update
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import begin_read_phase, execute_alone
from bot.db.inbox import USER_TOLD
from bot.db.models.inbox import (
    INBOX_PARKED,
    INBOX_PENDING,
    InboxUpdate,
)
from bot.db.session_hooks import CURRENT_ROW
from bot.db.upsert import insert_ignore
from bot.services.shared.errors import DomainError
from bot.telegram.claims import NO_CHAT, ChatClaims, LocalClaims
from bot.telegram.finisher import Finisher
from bot.telegram.middlewares import REPLY_IN_FLIGHT, UPDATE_SETTLED
from bot.telegram.picker import UNFINISHED, Picked, Picker

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 3
PRUNE_EVERY = 24 * 3600.0  # seconds between prunes of processed inbox rows
PARSED_KEPT = 10_000  # parsed updates kept for their first run
# A chat claimed by another process is tried again after CLAIM_RETRY s, the pause doubling
# while it stays under CLAIM_PATIENCE s (0.05 + 0.1 + ... + 0.8: about 1.5 s in all).
CLAIM_RETRY, CLAIM_PATIENCE = 0.05, 1.0
# Per update being handled: whether this is its last attempt, and whether the user was told.
FINAL_ATTEMPT: ContextVar[bool] = ContextVar("final_attempt", default=True)


_IDENTITY = ("id", "message_id", "date", "edit_date")


def digest_of(payload: dict[str, Any]) -> str:
    """A fingerprint of what an update is (its kind, message, chat, sender, dates): the same
    for a redelivery however the JSON was produced (raw webhook body or a parsed polling
    update), different for another update that reuses the number."""
    identity: list[Any] = []
    for kind, value in sorted(payload.items()):
        if kind == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat") or {}
        identity.append([kind, [value.get(k) for k in _IDENTITY], chat.get("id"),
                         (value.get("from") or value.get("from_user") or {}).get("id")])
    canonical = json.dumps(identity, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def chat_of(payload: dict[str, Any]) -> int | None:
    """The chat (or user, for chat-less updates) an update belongs to, for ordering."""
    for key, value in payload.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        chat = value.get("chat") or (value.get("message") or {}).get("chat")
        if isinstance(chat, dict) and "id" in chat:
            return int(chat["id"])
        sender = value.get("from")
        if isinstance(sender, dict) and "id" in sender:
            return int(sender["id"])
    return None


async def retry_quietly(event: ErrorEvent) -> Any:
    """Root error handler: before the last attempt, re-raise (the processor retries silently);
    on the last one, let the errors router answer the user. A domain error (a rule the user
    broke) is no poison: the errors router answers it at once."""
    if not FINAL_ATTEMPT.get() and not isinstance(event.exception, DomainError):
        raise event.exception
    return UNHANDLED


class UpdateProcessor:
    """Owns the inbox: ingest (durable), recover and sweep (after a crash), process (once)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        workers: int = 16,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        claims: ChatClaims | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        timeout: float | None = None,
        retry_delay: float = 0.2,
    ) -> None:
        self._dp = dispatcher
        self._bot = bot
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._slots = asyncio.Semaphore(workers)
        self._claims: ChatClaims = claims or LocalClaims()
        self._max_attempts = max(1, max_attempts)
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._tasks: set[asyncio.Task[None]] = set()
        self._draining: set[int] = set()
        self._again: set[int] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._finisher = Finisher(sessionmaker, clock)  # settles and done-marks, batched
        self._picker = Picker(sessionmaker)  # picks, batched across chats
        self.parked = 0
        # Update objects of freshly stored updates, by update id: (digest, object).
        self._parsed: OrderedDict[int, tuple[str, Update]] = OrderedDict()

    @property
    def bot_id(self) -> int:
        """The bot's id (from its token): the inbox keeps each bot's numbering apart."""
        try:
            return int(self._bot.id)
        except (TypeError, ValueError):
            return 0

    async def ingest(self, updates: Iterable[dict[str, Any]],
                     parsed: Iterable[Update] = ()) -> int:
        """Store updates durably, then wake their chats; returns how many were new.

        A redelivery (same number, same content) is known; a number seen before with other
        content means Telegram's numbering restarted (or the token changed): stored as new.
        `parsed`, the same updates as aiogram objects (polling has them), spares their first
        run a second validation of the stored payload.
        """
        batch = list(updates)
        if not batch:
            return 0
        now, bot_id = self._clock(), self.bot_id
        rows: list[dict[str, Any]] = [
            {"bot_id": bot_id, "update_id": int(u["update_id"]), "digest": digest_of(u),
             "chat_id": chat_of(u), "payload": u, "state": INBOX_PENDING, "attempts": 0,
             "received_at": now}
            for u in batch
        ]
        async with self._sessionmaker() as session:
            seen: dict[int, set[str]] = {}
            for update_id, digest, payload in (await session.execute(
                select(InboxUpdate.update_id, InboxUpdate.digest, InboxUpdate.payload)
                .where(InboxUpdate.bot_id.in_({bot_id, 0}),
                       InboxUpdate.update_id.in_([r["update_id"] for r in rows])))).all():
                seen.setdefault(int(update_id), set()).add(digest or digest_of(dict(payload)))
            await insert_ignore(session, InboxUpdate, rows, ["bot_id", "update_id", "digest"])
            await session.commit()
        fresh = [r for r in rows if r["digest"] not in seen.get(r["update_id"], ())]
        objects = {u.update_id: u for u in parsed}
        for r in fresh:
            if (obj := objects.get(r["update_id"])) is not None:
                self._parsed[r["update_id"]] = (r["digest"], obj)
        while len(self._parsed) > PARSED_KEPT:  # run elsewhere (another process) or parked
            self._parsed.popitem(last=False)
        reused = [r["update_id"] for r in fresh if r["update_id"] in seen]
        if reused:
            log.warning("update numbers %s were used before with other content: Telegram's "
                        "numbering restarted (or a new bot token); storing them as new updates",
                        reused[:5])
        for chat in dict.fromkeys(chat_of(u) for u in batch):
            self.wake(chat)
        return len(fresh)

    async def recover(self) -> int:
        """Wake every chat with updates left pending; returns how many updates are pending.

        An update already started MAX_ATTEMPTS times (it crashed the process, say) is parked.
        """
        async with self._sessionmaker() as session:
            poison = list((await session.execute(
                select(InboxUpdate.id, InboxUpdate.update_id, InboxUpdate.payload)
                .where(InboxUpdate.state == INBOX_PENDING,
                       InboxUpdate.attempts >= self._max_attempts))).all())
            await session.commit()
        for row_id, update_id, payload in poison:
            await self._park(int(row_id), int(update_id), dict(payload),
                             "gave up: pending through repeated restarts", tell=True)
        chats = await self._pending_chats()
        for chat in chats:
            self.wake(chat)
        async with self._sessionmaker() as session:
            count = len((await session.scalars(
                select(InboxUpdate.id).where(InboxUpdate.state.in_(UNFINISHED)))).all())
            await session.commit()
        if count:
            log.info("recovering %d pending updates", count)
        return count

    def start_sweeper(self, every: float = 2.0, *, retention_days: int | None = None) -> None:
        """Every `every` seconds, wake chats left pending (by a process that died, say); with
        `retention_days`, prune processed rows now and then daily."""
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep(every, retention_days),
                                                name="inbox-sweeper")
            self._tasks.add(self._sweeper)
            self._sweeper.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop the sweeper and give up the chat claims (the updates in hand finish first)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.drain()
        await self._claims.close()

    async def drain(self) -> None:
        """Wait until every scheduled update has been processed."""
        while busy := [t for t in self._tasks if t is not self._sweeper]:
            await asyncio.gather(*busy, return_exceptions=True)

    def wake(self, chat_id: int | None) -> None:
        """Make sure the chat's pending updates are being processed (here or elsewhere)."""
        key = NO_CHAT if chat_id is None else chat_id
        if key in self._draining:
            self._again.add(key)
            return
        self._draining.add(key)
        task = asyncio.create_task(self._drain(key), name=f"chat-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self, every: float, retention_days: int | None) -> None:
        loop = asyncio.get_running_loop()
        next_prune = loop.time()
        while True:
            if retention_days is not None and loop.time() >= next_prune:
                next_prune = loop.time() + PRUNE_EVERY
                await self.prune(retention_days)
            await asyncio.sleep(every)
            try:
                for chat in await self._pending_chats():
                    self.wake(chat)
            except Exception as exc:  # the database is away: the next sweep tries again
                log.warning("inbox sweep failed: %s", type(exc).__name__)

    async def prune(self, retention_days: int) -> int:
        """Delete done and parked rows older than the retention; how many (0 on failure)."""
        from bot.services.shared import inbox

        try:
            async with self._sessionmaker() as session:
                count = await inbox.prune(session, now=self._clock(),
                                          retention_days=retention_days)
                await session.commit()
        except Exception as exc:  # tried again at the next round
            log.warning("pruning the inbox failed: %s", type(exc).__name__)
            return 0
        if count:
            log.info("pruned %d processed inbox rows older than %d days", count,
                     retention_days)
        return count

    async def _pending_chats(self) -> list[int | None]:
        async with self._sessionmaker() as session:
            await begin_read_phase(session)  # no write lock, no transaction
            chats = list((await session.scalars(
                select(InboxUpdate.chat_id).where(InboxUpdate.state.in_(UNFINISHED))
                .distinct().limit(5000))).all())
            await session.commit()
        return chats

    async def _drain(self, key: int) -> None:
        try:
            pause = CLAIM_RETRY
            while True:
                self._again.discard(key)
                async with self._slots:
                    claimed = await self._claims.try_claim(key)
                    if claimed:
                        try:
                            await self._run_chat(key)
                        finally:
                            await self._claims.release(key)
                if claimed:
                    if key in self._again:  # stored here meanwhile (ingest woke the chat)
                        continue
                    return
                # Another process holds the chat: it runs what it finds pending before it lets
                # go, but an update stored after its last pick is ours to run. Try again
                # shortly, a few times (the sweep goes on trying after that).
                if pause > CLAIM_PATIENCE:
                    return
                await asyncio.sleep(pause)
                pause *= 2
        except Exception:
            log.exception("processing chat %s stopped; the sweep picks it up again", key)
        finally:
            self._draining.discard(key)

    async def _run_chat(self, key: int) -> None:
        """Run the claimed chat's pending updates, lowest first, until none is left."""
        more = True  # the chat had another pending update when we picked
        while more:
            # An update stored (and its wake-up) before this pick is seen by it.
            self._again.discard(key)
            if (row := await self._next(key)) is None:
                return
            row_id, update_id, payload, attempts, more, reply = row
            if reply is not None:  # its run was cut off after its commit
                await self._resend(row_id, update_id, key, reply,
                                   give_up=attempts > self._max_attempts)
            else:
                await self._handle(row_id, update_id, payload, attempts)

    async def _next(self, key: int) -> Picked | None:
        """The chat's lowest unfinished update, its start counted (bot.telegram.picker)."""
        return await self._picker.next(None if key == NO_CHAT else key)

    async def _resend(self, row_id: int, update_id: int, chat: int, reply: dict[str, Any], *,
                      give_up: bool = False) -> None:
        """Send the reply a cut-off run left in flight (once more: it may arrive twice), then
        settle the update; with `give_up` (re-sending it kept stopping the process), settle
        it unsent."""
        from aiogram import methods
        from aiogram.methods.base import TelegramMethod

        if give_up:
            log.error("update %s (chat %s): its reply was cut off again and again; given up",
                      update_id, chat)
            await self._settle_reply(row_id)
            return
        log.warning("update %s (chat %s): its reply was in flight when its process stopped; "
                    "sending it again (it may arrive twice)", update_id, chat)
        kind = getattr(methods, str(reply.get("method")), None)
        try:
            if isinstance(kind, type) and issubclass(kind, TelegramMethod):
                await self._bot(kind.model_validate(reply.get("params") or {}))
        except Exception as exc:  # Telegram refused it (blocked, gone): as a first send would
            log.warning("update %s: its reply could not be sent again: %s", update_id,
                        type(exc).__name__)
        await self._settle_reply(row_id)

    async def _settle_reply(self, row_id: int) -> None:
        """The reply in flight has been sent (or refused): the update is done. Returns once
        that is committed (before the chat's claim is given up, so nobody sends it again)."""
        await self._finisher.settle(row_id)

    async def _handle(self, row_id: int, update_id: int, payload: dict[str, Any],
                      attempts: int) -> None:
        """Run one update, retrying in-process; park it after the last attempt."""
        if attempts > self._max_attempts:
            await self._park(row_id, update_id, payload,
                             "gave up: pending through repeated restarts", tell=True)
            return
        while True:
            final = attempts >= self._max_attempts
            error, told = await self._process(row_id, update_id, payload, final=final)
            if error is None:
                return
            if final:
                await self._park(row_id, update_id, payload, error, tell=not told)
                return
            log.warning("update %s failed (attempt %d of %d): %s; retrying", update_id,
                        attempts, self._max_attempts, error.split(":", 1)[0])
            await asyncio.sleep(self._retry_delay * attempts)
            attempts += 1
            _, counted = await execute_alone(self._sessionmaker, update(InboxUpdate).where(
                InboxUpdate.id == row_id, InboxUpdate.state == INBOX_PENDING)
                .values(attempts=attempts))
            if not counted:
                return  # settled meanwhile (its handler committed before failing): no rerun

    async def _process(self, row_id: int, update_id: int, payload: dict[str, Any], *,
                       final: bool) -> tuple[str | None, bool]:
        """Feed the update once; (error or None, whether the errors router told the user)."""
        error: str | None = None
        told: list[str] = []
        settled_note: list[bool] = []
        settled = UPDATE_SETTLED.set(settled_note)
        reply_note: list[bool] = []
        reply_token = REPLY_IN_FLIGHT.set(reply_note)
        final_token = FINAL_ATTEMPT.set(final)
        told_token = USER_TOLD.set(told)
        row_token = CURRENT_ROW.set(row_id)
        try:
            kept = self._parsed.get(update_id)
            if kept is not None and kept[0] == digest_of(payload):  # this very update
                del self._parsed[update_id]
                upd = kept[1]
            else:
                upd = Update.model_validate(payload, context={"bot": self._bot})
            feeding = self._dp.feed_update(self._bot, upd)
            await (asyncio.wait_for(feeding, self._timeout) if self._timeout else feeding)
        except TimeoutError:
            log.error("update %s timed out after %.0f s", update_id, self._timeout or 0)
            error = f"TimeoutError: handling took longer than {self._timeout:.0f} s"
        except Exception as exc:
            log.error("update %s raised %s", update_id, type(exc).__name__,
                      exc_info=final)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            done_by_handler = bool(settled_note)
            UPDATE_SETTLED.reset(settled)
            REPLY_IN_FLIGHT.reset(reply_token)
            FINAL_ATTEMPT.reset(final_token)
            USER_TOLD.reset(told_token)
            CURRENT_ROW.reset(row_token)
        if reply_note:  # its last reply's call has returned (or failed): nothing in flight
            await self._settle_reply(row_id)
        if told:  # the errors router answered (last attempt) and parked it
            return told[0], True
        if error is not None:
            return error, False
        if done_by_handler:
            return None, False  # the handler's own transaction marked it done
        await self._finisher.mark_done(row_id)  # nothing the handler committed marked it
        return None, False

    async def _park(self, row_id: int, update_id: int, payload: dict[str, Any], error: str,
                    *, tell: bool) -> None:
        """Park the update with its error (never its payload in the log); apologise once."""
        from bot.telegram.apology import apologise

        _, count = await execute_alone(
            self._sessionmaker, update(InboxUpdate)
            .where(InboxUpdate.id == row_id, InboxUpdate.state == INBOX_PENDING)
            .values(state=INBOX_PARKED, error=error[:2000], processed_at=self._clock()))
        parked = bool(count)
        if parked:
            self.parked += 1
            log.error("update %s parked after %d attempts: %s", update_id, self._max_attempts,
                      error.split(":", 1)[0])
        if parked and tell:
            await apologise(self._bot, self._dp, self._sessionmaker, update_id, payload)


