"""Parse Bot API request parameters from query, JSON, urlencoded or multipart bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from emulator.errors import bad_request


@dataclass
class Upload:
    """A file part uploaded with a multipart request."""

    filename: str | None
    content_type: str | None
    content: bytes


class Params:
    """Request parameters with Telegram-like coercion (every form value is a string)."""

    def __init__(self, values: dict[str, Any], uploads: dict[str, Upload]) -> None:
        """Wrap raw ``values`` and uploaded file parts."""
        self.values = values
        self.uploads = uploads

    def raw(self, name: str) -> Any:
        """Return the value as sent, or None."""
        return self.values.get(name)

    def text(self, name: str, default: str | None = None) -> str | None:
        """Return a string parameter."""
        value = self.values.get(name)
        if value is None:
            return default
        return value if isinstance(value, str) else json.dumps(value)

    def integer(self, name: str, default: int | None = None) -> int | None:
        """Return an integer parameter or raise 400 when it is malformed."""
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        """Return a float parameter."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def flag(self, name: str, default: bool = False) -> bool:
        """Return a boolean parameter ("true"/"1" are true)."""
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        return str(value).lower() in ("true", "1")

    def obj(self, name: str) -> Any:
        """Return a JSON object parameter (decoding it when it came as a string)."""
        value = self.values.get(name)
        if isinstance(value, str):
            if value == "":
                return None
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def file(self, name: str) -> Upload | str | None:
        """Return an uploaded part (direct or ``attach://``) or a file_id/URL string."""
        if name in self.uploads:
            return self.uploads[name]
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            part = self.uploads.get(value.removeprefix("attach://"))
            if part is None:
                raise bad_request(f"file {value} not found in the request")
            return part
        return value if isinstance(value, str) and value else None


async def read_params(request: web.Request) -> Params:
    """Read all parameters of a Bot API request."""
    values: dict[str, Any] = dict(request.query)
    uploads: dict[str, Upload] = {}
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON body must be an object")
            values.update(body)
        else:
            form = await request.post()
            for key, item in form.items():
                if isinstance(item, web.FileField):
                    uploads[key] = Upload(item.filename, item.content_type, item.file.read())
                elif isinstance(item, bytes):
                    uploads[key] = Upload(None, None, item)
                else:
                    values[key] = item
    return Params(values, uploads)
