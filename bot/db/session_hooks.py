"""Session hook: a commit made while handling an update also marks that update done.

Only a pending update is marked: a parked (or already done) one is never overwritten. A commit
made just before a reply leaves (`REPLY_KEY` in the session's info, set by the Telegram glue)
marks it `replying` with the reply instead, in the same statement. A SAVEPOINT released inside
the transaction is no commit (SQLAlchemy runs the commit hooks for it too): the update is marked
by the transaction's own COMMIT, once.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, event, update
from sqlalchemy.orm import Session

from bot.db.models.inbox import INBOX_DONE, INBOX_PENDING, INBOX_REPLYING
from bot.db.models.inbox import INBOX_TABLE as _INBOX

UPDATE_ID_KEY = "censusbot.update_id"
# The reply about to leave ({"method", "params"}), stored with the commit that precedes it.
REPLY_KEY = "censusbot.reply"
# Set once a commit stored a reply in flight (the processor settles it after the call).
REPLY_STORED = "censusbot.reply_stored"
_MARKED = "censusbot.update_marked"
_MARKING = "censusbot.update_marking"
# The inbox row (its id) of the update being processed, set by the processor.
CURRENT_ROW: ContextVar[int | None] = ContextVar("inbox_row", default=None)


def bind_update(session: Any, row_id: int | None = None) -> None:
    """Tie the session to the inbox row being processed (by default the current one) so that
    its commits mark the update processed."""
    row_id = CURRENT_ROW.get() if row_id is None else row_id
    if row_id is not None:
        session.info[UPDATE_ID_KEY] = row_id


@event.listens_for(Session, "before_commit")
def _mark_update_done(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the update commits later
        return
    update_id = session.info.get(UPDATE_ID_KEY)
    reply = session.info.pop(REPLY_KEY, None)
    if update_id is None:
        return  # not bound to an update
    if session.info.get(_MARKED) == update_id:  # an earlier commit of this session marked it
        if reply is not None:  # a further reply: it replaces the one already sent
            session.execute(_further_stmt(), {"row": update_id, "reply": reply})
            session.info[REPLY_STORED] = True
        return
    params: dict[str, object] = {"row": update_id, "at": datetime.now(UTC)}
    if reply is not None:
        params["reply"] = reply
        session.info[REPLY_STORED] = True
    session.execute(_mark_stmt(reply is not None), params)
    session.info[_MARKING] = update_id


@lru_cache(maxsize=2)
def _mark_stmt(with_reply: bool) -> Any:
    """The done-mark of the pending row "row" at "at" (with "reply": marked `replying` with
    it), built once: it runs for nearly every update."""
    values: dict[str, Any] = {"state": INBOX_DONE, "processed_at": bindparam(
        "at", type_=_INBOX.c.processed_at.type)}
    if with_reply:
        values.update(state=INBOX_REPLYING, reply=bindparam("reply", type_=_INBOX.c.reply.type))
    return (update(_INBOX)
            .where(_INBOX.c.id == bindparam("row", type_=_INBOX.c.id.type),
                   _INBOX.c.state == INBOX_PENDING)
            .values(**values))


@event.listens_for(Session, "after_commit")
def _note_marked(session: Session) -> None:
    if session.in_nested_transaction():
        return
    marking = session.info.pop(_MARKING, None)
    if marking is not None:
        session.info[_MARKED] = marking  # committed: later commits need no second mark


async def store_further_reply(session: Any, reply: dict[str, Any]) -> None:
    """A further reply of an update an earlier commit already marked: stored by one statement
    on its own (no transaction around it), replacing the reply already sent."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from bot.db.engine import execute_alone

    await execute_alone(async_sessionmaker(session.bind), _further_stmt(),
                        {"row": session.info[UPDATE_ID_KEY], "reply": reply})


@lru_cache(maxsize=1)
def _further_stmt() -> Any:
    """A further reply ("reply") stored on the already marked row "row", replacing the one
    sent before; built once (both ways of storing one use it)."""
    return (update(_INBOX).where(_INBOX.c.id == bindparam("row", type_=_INBOX.c.id.type))
            .values(state=INBOX_REPLYING,
                    reply=bindparam("reply", type_=_INBOX.c.reply.type)))


def marked(session: Any) -> bool:
    """Whether a commit of this session already marked its update (done or replying)."""
    update_id = session.info.get(UPDATE_ID_KEY)
    return update_id is not None and session.info.get(_MARKED) == update_id


@event.listens_for(Session, "after_rollback")
def _forget_marking(session: Session) -> None:
    if session.in_nested_transaction():  # back to a SAVEPOINT: the transaction goes on
        return
    session.info.pop(_MARKING, None)
    session.info.pop(REPLY_KEY, None)
