"""The read phase of an update's transaction: end it before slow work that needs no database.

Below the handlers and the Telegram glue, so a handler (the FAQ) can release the SQLite write
lock while it searches without importing the middleware.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

_WROTE = "censusbot.read_phase.flushed"


@event.listens_for(Session, "after_flush")
def _note_flush(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _note_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a SAVEPOINT's writes are still uncommitted
        session.info.pop(_WROTE, None)


@event.listens_for(Session, "after_rollback")
def _note_rollback(session: Session) -> None:
    if not session.in_nested_transaction():  # back to a SAVEPOINT: earlier writes stay
        session.info.pop(_WROTE, None)


def note_write(session: AsyncSession) -> None:
    """The transaction holds a change written only at its commit (no flush shows it): the read
    phase must not be ended by a rollback."""
    session.info[_WROTE] = True


async def end_read_phase(session: AsyncSession) -> None:
    """Before slow work that needs no database (a FAQ search), end the update's transaction if
    it has only read so far, so that the (SQLite) write lock is not held meanwhile. A
    transaction holding a change (a user seen for the first time) is kept."""
    if session.in_transaction() and not (
        session.info.get(_WROTE) or session.new or session.dirty or session.deleted
    ):
        await session.rollback()
