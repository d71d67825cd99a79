"""A textbook aiogram 3 + SQLAlchemy bot doing what /verify does, without durability guarantees.

The peer a user would otherwise write (the bomzheg/aiogram_template shape): a middleware opens an
AsyncSession per update and upserts the user; /verify selects the staff row by ID, writes an
audit row and commits; replies with a masked name. aiogram's default polling (handlers run as
tasks, updates acknowledged before they are handled). Env: TELEGRAM_API_BASE, BOT_TOKEN,
PEER_DB (an SQLite path), PEER_ROSTER (the roster CSV to load at start).

Copied from the project's shared baselines; the ONLY change: PEER_DB_URL (an SQLAlchemy async
URL) may name a PostgreSQL database instead of PEER_DB, and the upsert then uses PostgreSQL's
INSERT ... ON CONFLICT (same statement, other dialect), and the audit time column is
timezone-aware (asyncpg refuses an aware datetime for a naive column), so the same peer runs
on both databases.
"""
import asyncio, csv, os
from datetime import datetime, UTC

from aiogram import BaseMiddleware, Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from sqlalchemy import String, Integer, DateTime, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Staff(Base):
    __tablename__ = "staff"
    staff_id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    unit_code: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String)


class Audit(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer)
    query: Mapped[str] = mapped_column(String)
    result: Mapped[str] = mapped_column(String)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DbMiddleware(BaseMiddleware):
    def __init__(self, sm):
        self.sm = sm

    async def __call__(self, handler, event, data):
        async with self.sm() as session:
            u = data.get("event_from_user")
            if u is not None:
                ins = pg_insert if session.get_bind().dialect.name == "postgresql" else insert
                await session.execute(ins(User).values(id=u.id, name=u.full_name)
                                      .on_conflict_do_update(index_elements=["id"], set_={"name": u.full_name}))
            data["session"] = session
            return await handler(event, data)


router = Router()


@router.message(Command("verify"))
async def verify(message: Message, command: CommandObject, session: AsyncSession) -> None:
    sid = (command.args or "").strip().upper()
    row = await session.scalar(select(Staff).where(Staff.staff_id == sid))
    result = row.status if row else "unknown"
    session.add(Audit(user_id=message.from_user.id, query=sid, result=result, at=datetime.now(UTC)))
    await session.commit()
    if row is None:
        await message.answer("未查到该编号。")
    else:
        await message.answer(f"{row.name[0]}** — {row.unit_code} — {row.status}")


async def main() -> None:
    engine = create_async_engine(os.environ.get("PEER_DB_URL")
                                 or f"sqlite+aiosqlite:///{os.environ['PEER_DB']}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    sm = async_sessionmaker(engine, expire_on_commit=False)
    async with sm() as s:
        for r in csv.DictReader(open(os.environ["PEER_ROSTER"], encoding="utf-8")):
            await s.merge(Staff(staff_id=r["staff_id"], name=r["name"], unit_code=r["unit_code"], status=r["status"]))
        await s.commit()
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session)
    dp = Dispatcher()
    dp.update.outer_middleware(DbMiddleware(sm))
    dp.include_router(router)
    await dp.start_polling(bot, polling_timeout=1)

asyncio.run(main())
