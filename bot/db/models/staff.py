"""Roster: census staff records (enumerators, supervisors, liaisons, office heads...)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from bot.db.base import Base

STAFF_ROLES = ("enumerator", "supervisor", "liaison", "office_head", "leader", "qa_desk")
STAFF_STATUSES = ("active", "suspended", "revoked")
# Roles a binding carries only when the account was bound with a one-time office code.
PRIVILEGED_ROLES = frozenset({"office_head", "leader", "qa_desk", "liaison"})


class Staff(Base):
    """A roster row, keyed by the staff ID printed on the census worker card."""

    __tablename__ = "staff"

    staff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str] = mapped_column(ForeignKey("units.code"), index=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)  # E.164, e.g. +8613800000000
    org: Mapped[str | None] = mapped_column(String(200))
    valid_to: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="active")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, index=True, unique=True)
    # How the account was bound: "contact" (shared phone) or "code" (one-time office code).
    # Privileged roles (office_head, leader, qa_desk, liaison) hold only through "code".
    bound_via: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
