"""Keep phone numbers and raw update payloads out of the logs.

`install()` puts a filter on every handler of the root logger that replaces anything shaped
like a phone number (a mainland mobile, an international +number, a JSON "phone_number"
field) with [phone], in the message, its arguments and a formatted traceback; and it keeps
loggers that print update or state payloads at debug level (aiogram's) at INFO or above even
when the operator asks for --verbose.
"""

from __future__ import annotations

import logging
import re

PHONE_RE = re.compile(
    r"\"phone_number\"\s*:\s*\"[^\"]*\""
    r"|'phone_number'\s*:\s*'[^']*'"
    r"|phone_number=['\"][^'\"]*['\"]"
    r"|(?<![\d+])(?:\+|00)\d[\d \-]{6,17}\d(?!\d)"
    r"|(?<!\d)(?:86[ \-]?)?1[3-9]\d(?:[ \-]?\d){8}(?!\d)")
QUIET_LOGGERS = ("aiogram.event", "aiogram.scene", "aiogram.dispatcher", "aiogram.middlewares",
                 "aiogram.webhook", "aiohttp.access", "sqlalchemy.engine")
REDACTED = "[phone]"


def redact(text: str) -> str:
    """`text` with every phone-shaped part replaced by [phone]."""
    return PHONE_RE.sub(REDACTED, text)


class RedactPhones(logging.Filter):
    """A handler filter that redacts phone numbers from each record before it is written."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message (and traceback text) without phone numbers."""
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the raw template
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(root: logging.Logger | None = None) -> None:
    """Filter every handler of `root` (the root logger by default) and quiet payload loggers."""
    root = root or logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactPhones) for f in handler.filters):
            handler.addFilter(RedactPhones())
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        floor = logging.INFO if name == "aiogram.dispatcher" else logging.WARNING
        logger.setLevel(max(logger.level, floor))
