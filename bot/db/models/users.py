"""Chat users and their role grants, scoped to a unit (a grant covers the unit's subtree)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base, BigIntPK

ROLES = ("enumerator", "supervisor", "liaison", "office_head", "leader", "qa_desk", "admin")


class ChatUser(Base):
    """A Telegram user the bot has seen."""

    __tablename__ = "chat_users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    username: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(8))  # chosen with /lang; None = Telegram's
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    unreachable: Mapped[bool] = mapped_column(default=False)  # blocked the bot / chat gone
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    last_seen_at: Mapped[datetime | None] = mapped_column()


class RoleGrant(Base):
    """A role a chat user holds on a unit and, through it, on every unit below."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "unit_code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    role: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    source: Mapped[str] = mapped_column(String(16), default="grant")  # grant | binding
    # The roster record a binding grant came from (None for a grant made by hand): the grant
    # holds only while that record is bound to the user, active, and of this role and unit.
    source_staff_id: Mapped[str | None] = mapped_column(String(64), index=True)
    granted_at: Mapped[datetime] = mapped_column(server_default=func.now())
