"""Session hook: a commit made while handling an update also marks that update done."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, update
from sqlalchemy.orm import Session

from bot.db.models.inbox import INBOX_DONE, InboxUpdate

UPDATE_ID_KEY = "censusbot.update_id"


def bind_update(session: Any, update_id: int) -> None:
    """Tie the session to an update so that its first commit marks the update processed."""
    session.info[UPDATE_ID_KEY] = update_id


@event.listens_for(Session, "before_commit")
def _mark_update_done(session: Session) -> None:
    update_id = session.info.get(UPDATE_ID_KEY)
    if update_id is None:
        return
    session.execute(
        update(InboxUpdate)
        .where(InboxUpdate.update_id == update_id)
        .values(state=INBOX_DONE, processed_at=datetime.now(UTC))
    )
