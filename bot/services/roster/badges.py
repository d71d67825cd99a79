"""Badge QR tokens (HMAC-signed deep-link payloads) and the badge card image.

A token is `v` + kind + body + mac: kind `r` carries the staff ID as it is (when it uses only
the characters Telegram allows in a start parameter), kind `b` carries it base64url-encoded;
mac is the first 12 bytes of HMAC-SHA256(key, "censusbot-badge:v1:" + everything before it),
base64url (16 characters). The whole token fits Telegram's 64-character `start` parameter.
Changing any character, or the key (`CENSUSBOT_SECRET`), makes it fail.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

log = logging.getLogger(__name__)

MAX_TOKEN = 64
MAC_CHARS = 16
PREFIX = "v"
_DOMAIN = b"censusbot-badge:v1:"
_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_RAW_ID = MAX_TOKEN - len(PREFIX) - 1 - MAC_CHARS  # 46 characters
MAX_ENCODED_ID_BYTES = (MAX_RAW_ID * 6) // 8  # 34 bytes (UTF-8) for other IDs

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


class TokenTooLong(ValueError):
    """The staff ID is too long to fit a signed token in a 64-character start parameter."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    raw = base64.urlsafe_b64decode(text + pad)
    if _b64(raw) != text:  # non-canonical encodings (stray low bits) are refused
        raise ValueError("non-canonical base64")
    return raw


def _mac(key: bytes, signed_part: str) -> str:
    digest = hmac.new(key, _DOMAIN + signed_part.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest[:12])


def sign(staff_id: str, key: bytes) -> str:
    """The badge token of `staff_id`; raises TokenTooLong when it would not fit 64 characters."""
    if not staff_id:
        raise ValueError("empty staff ID")
    if _SAFE.match(staff_id) and len(staff_id) <= MAX_RAW_ID:
        body = PREFIX + "r" + staff_id
    else:
        raw = staff_id.encode("utf-8")
        if len(raw) > MAX_ENCODED_ID_BYTES:
            raise TokenTooLong(staff_id)
        body = PREFIX + "b" + _b64(raw)
    token = body + _mac(key, body)
    if len(token) > MAX_TOKEN:  # cannot happen with the limits above; kept as a guard
        raise TokenTooLong(staff_id)
    return token


def verify(token: str, key: bytes) -> str | None:
    """The staff ID a genuine token names, or None for anything forged, altered or malformed."""
    if not token or len(token) > MAX_TOKEN or not _SAFE.match(token):
        return None
    if len(token) < len(PREFIX) + 2 + MAC_CHARS or not token.startswith(PREFIX):
        return None
    body, mac = token[:-MAC_CHARS], token[-MAC_CHARS:]
    if not hmac.compare_digest(mac, _mac(key, body)):
        return None
    kind, payload = body[len(PREFIX)], body[len(PREFIX) + 1:]
    if kind == "r":
        return payload
    if kind == "b":
        try:
            return _unb64(payload).decode("utf-8")
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
    return None


def looks_like_token(payload: str) -> bool:
    """Whether a /start payload is meant to be a badge token (it may still be forged)."""
    return payload.startswith(PREFIX + "r") or payload.startswith(PREFIX + "b")


def badge_url(bot_username: str, token: str) -> str:
    """The deep link a badge QR code opens."""
    return f"https://t.me/{bot_username}?start={token}"


# ---------------------------------------------------------------- fonts and the card


@lru_cache(maxsize=1)
def find_cjk_font(candidates: Sequence[str] = FONT_CANDIDATES) -> str | None:
    """The path of an installed CJK font (Noto CJK or WenQuanYi), or None."""
    for path in candidates:
        if Path(path).is_file():
            return path
    log.warning("no CJK font found (install fonts-noto-cjk): badge Chinese text may not render")
    return None


def _font(size: int, path: str | None) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size=size)
    index = 0
    if path.endswith(".ttc"):
        index = _sc_index(path)
    try:
        return ImageFont.truetype(path, size=size, index=index)
    except OSError:
        log.warning("cannot open font %s; using the default font", path)
        return ImageFont.load_default(size=size)


@lru_cache(maxsize=8)
def _sc_index(path: str) -> int:
    """The face of a font collection with Simplified Chinese glyph forms, when there is one."""
    for index in range(10):
        try:
            face = ImageFont.truetype(path, size=12, index=index)
        except OSError:
            break
        family = face.getname()[0] or ""
        if family.endswith(" SC") or "SC" in family.split():
            return index
    return 0


@dataclass(frozen=True)
class BadgeCard:
    """What the badge shows: no full name, no phone."""

    staff_id: str
    masked_name: str
    role: str  # already translated
    unit: str  # e.g. "郑州市 中原区"
    org: str | None
    valid_to: date | None
    url: str


def qr_image(url: str, scale: int = 8) -> Image.Image:
    """The QR code of `url` as a Pillow image (error correction M, quiet zone 4)."""
    qr = segno.make_qr(url, error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=scale, border=4)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def render_card(card: BadgeCard, t: Callable[[str], str], font_path: str | None = None) -> bytes:
    """A PNG badge card: title, masked name, role, unit, agency, validity and the QR code."""
    font_path = font_path if font_path is not None else find_cjk_font()
    width = 720
    qr = qr_image(card.url, scale=8)
    if qr.width > 440:
        qr = qr.resize((440, 440), Image.Resampling.NEAREST)
    height = 360 + qr.height + 80
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, width, 90), fill=(20, 90, 160))
    title = _font(36, font_path)
    big = _font(40, font_path)
    body = _font(26, font_path)
    small = _font(20, font_path)
    draw.text((30, 22), t("Census staff badge"), fill="white", font=title)
    y = 110
    draw.text((30, y), card.masked_name, fill="black", font=big)
    y += 60
    lines = [
        f"{t('Role')}: {card.role}",
        f"{t('Unit')}: {card.unit}",
    ]
    if card.org:
        lines.append(f"{t('Agency')}: {card.org}")
    valid = card.valid_to.isoformat() if card.valid_to else t("until the end of the census")
    lines.append(f"{t('Valid until')}: {valid}")
    lines.append(f"{t('Staff ID')}: {card.staff_id}")
    for line in lines:
        draw.text((30, y), line, fill="black", font=body)
        y += 36
    y = max(y + 10, 340)
    img.paste(qr, ((width - qr.width) // 2, y))
    y += qr.height + 10
    draw.text((30, y), t("Scan to check this badge with the census bot."), fill=(80, 80, 80),
              font=small)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()
