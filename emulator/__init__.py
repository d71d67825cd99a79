"""Telegram Bot API emulator for tests and the offline demo.

``Emulator`` serves the Bot API over real HTTP (point aiogram at it with
``TelegramAPIServer.from_base(emu.base_url)``) and offers a Python control API
(inject user messages/clicks, inspect history, inject faults) plus a JSON control
API under ``/_emu/`` used by the web chat page.
"""

from emulator.core import Emulator
from emulator.faults import FloodLimits
from emulator.records import RequestRecord, SentRecord

__all__ = ["Emulator", "FloodLimits", "RequestRecord", "SentRecord"]
