"""The handler tier: the real dispatcher, a recording bot session, a fresh SQLite database.

Updates go straight into `Dispatcher.feed_update`; the bot's session records every Bot API
request and answers it with a canned (or default) result, in the manner of aiogram's own
MockedBot. No network, no emulator, no background components.
"""

from __future__ import annotations

import html
import itertools
import re
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest
from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.base import BaseSession
from aiogram.enums import ParseMode
from aiogram.methods import (
    AnswerCallbackQuery,
    EditMessageReplyMarkup,
    SendDocument,
    SendMessage,
    TelegramMethod,
)
from aiogram.methods.base import TelegramType
from aiogram.types import CallbackQuery, Chat, Message, Update, User
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.db.engine import create_engine
from bot.telegram.app import build_dispatcher
from bot.telegram.middlewares import CommitBeforeSend
from tests.conftest import at

BOT_ID = 4242
_ids = itertools.count(1000)


class RecordingSession(BaseSession):
    """Records each request; answers with a queued result, else a plausible default."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[TelegramMethod[Any]] = []
        self.queued: deque[Any] = deque()

    def add_result(self, result: Any) -> None:
        """The next request gets `result` (an exception instance is raised instead)."""
        self.queued.append(result)

    async def make_request(self, bot: Bot, method: TelegramMethod[TelegramType],
                           timeout: int | None = None  # noqa: ASYNC109
                           ) -> TelegramType:
        """Record `method` and return its canned result."""
        self.requests.append(method)
        if self.queued:
            result = self.queued.popleft()
            if isinstance(result, BaseException):
                raise result
            return result  # type: ignore[no-any-return]
        return self._default(method)  # type: ignore[no-any-return]

    @staticmethod
    def _default(method: TelegramMethod[Any]) -> Any:
        if isinstance(method, SendMessage | SendDocument):
            chat = Chat(id=int(method.chat_id), type="private")
            return Message(message_id=next(_ids), date=datetime.now(), chat=chat,
                           text=getattr(method, "text", None),
                           from_user=User(id=BOT_ID, is_bot=True, first_name="bot"))
        if isinstance(method, AnswerCallbackQuery | EditMessageReplyMarkup):
            return True
        return True

    async def close(self) -> None:
        """Nothing to close."""

    async def stream_content(self, url: str, headers: dict[str, Any] | None = None,
                             timeout: int = 30,  # noqa: ASYNC109
                             chunk_size: int = 65536,
                             raise_for_status: bool = True) -> AsyncGenerator[bytes, None]:
        """No downloads in this tier."""
        yield b""


class MockedBot(Bot):
    """A Bot whose session records requests instead of sending them."""

    def __init__(self) -> None:
        session = RecordingSession()
        session.middleware(CommitBeforeSend())  # as in production: commit before sending
        super().__init__("4242:handler-tier-token", session=session,
                         default=DefaultBotProperties(parse_mode=ParseMode.HTML))

    @property
    def recording(self) -> RecordingSession:
        """The recording session."""
        assert isinstance(self.session, RecordingSession)
        return self.session

    def sent(self) -> list[TelegramMethod[Any]]:
        """Every request so far, and forget them."""
        out = list(self.recording.requests)
        self.recording.requests.clear()
        return out

    def texts(self, chat_id: int | None = None) -> list[str]:
        """Texts (and captions) of the messages sent since the last call."""
        return [plain(str(getattr(m, "text", None) or getattr(m, "caption", None) or ""))
                for m in self.sent() if isinstance(m, SendMessage | SendDocument)
                and (chat_id is None or int(m.chat_id) == chat_id)]


def plain(text: str | None) -> str:
    """A message as the user reads it: tags removed, entities unescaped."""
    return html.unescape(re.sub(r"<[^>]+>", "", text or ""))


class Clock:
    """The bot's clock, set by the test."""

    def __init__(self) -> None:
        self.now = at("2018-10-08 10:00")

    def __call__(self) -> datetime:
        """Now."""
        return self.now


class Chat1:
    """Builds updates from one private-chat user."""

    def __init__(self, user_id: int, language: str = "zh-hans") -> None:
        self.user = User(id=user_id, is_bot=False, first_name=f"u{user_id}",
                         language_code=language)
        self.chat = Chat(id=user_id, type="private")

    def message(self, text: str) -> Update:
        """A text message from the user."""
        return Update(update_id=next(_ids), message=Message(
            message_id=next(_ids), date=datetime.now(), chat=self.chat, from_user=self.user,
            text=text))

    def press(self, data: str, on: Message | None = None) -> Update:
        """A button press carrying `data` (under `on`, or a message of the bot's)."""
        msg = on or Message(message_id=next(_ids), date=datetime.now(), chat=self.chat,
                            from_user=User(id=BOT_ID, is_bot=True, first_name="bot"), text="…")
        return Update(update_id=next(_ids), callback_query=CallbackQuery(
            id=str(next(_ids)), from_user=self.user, chat_instance="ci", data=data,
            message=msg))


@pytest.fixture
def clock() -> Clock:
    """The bot's clock: 2018-10-08 10:00 in Shanghai."""
    return Clock()


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh migrated SQLite database."""
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def bot() -> MockedBot:
    """A bot that records what it would send."""
    return MockedBot()


@pytest.fixture
async def dp(db: AsyncEngine, sqlite_url: str, clock: Clock) -> AsyncIterator[Dispatcher]:
    """The real dispatcher (every router and middleware), without start-up components."""
    settings = Settings(BOT_TOKEN="4242:handler-tier-token", DATABASE_URL=sqlite_url,
                        CENSUSBOT_SECRET="test-secret-do-not-use-0123456789abcdef",
                        CENSUSBOT_SCHEDULER=False)
    dispatcher = build_dispatcher(settings, engine=db, clock=clock, components=False)
    dispatcher["bot_username"] = "census_test_bot"
    yield dispatcher
    await dispatcher.storage.close()


Feed = Callable[[Update], Any]


@pytest.fixture
def feed(dp: Dispatcher, bot: MockedBot) -> Feed:
    """Feed one update to the dispatcher, as the update processor does."""
    async def run(update: Update) -> Any:
        return await dp.feed_update(bot, update)
    return run


LIAISON = 5101  # liaison of 中原区 410102
HEAD = 5102  # office head of 郑州市 410100
TWO_UNITS = 5104  # liaison of 410102 and 410103


@pytest.fixture
async def zhengzhou(db: AsyncEngine, clock: Clock) -> None:
    """Zhengzhou's units, the synthetic targets, a liaison, a head and a two-unit liaison."""
    from bot.db.engine import create_sessionmaker
    from bot.services.access import users as users_service
    from bot.services.reports import submission as reports_service
    from bot.services.reports.templates import data_dir
    from bot.services.roster import org as org_service
    from tests.conftest import ZHENGZHOU

    sm = create_sessionmaker(db)
    async with sm() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
        await s.commit()
    async with sm() as s:
        rows = reports_service.read_targets_file(data_dir() / "targets" /
                                                 "zhengzhou.synthetic.yaml")
        await reports_service.import_targets(s, rows, source="synthetic", now=clock())
        await s.commit()
    for user, role, unit in ((LIAISON, "liaison", "410102"), (HEAD, "office_head", "410100"),
                             (TWO_UNITS, "liaison", "410102"), (TWO_UNITS, "liaison", "410103")):
        async with sm() as s:
            await users_service.grant_role(s, now=clock(), user_id=user, role=role,
                                           unit_code=unit)
            await s.commit()
