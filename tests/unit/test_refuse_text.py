"""A refused text keeps the conversation only when the user can correct it and send it again."""

from __future__ import annotations

from typing import Any

import pytest

from bot.services.shared.errors import DomainError
from bot.services.supervision.interviews import parse_form
from bot.services.supervision.orders import clean_text
from handlers.conversation import refuse_text


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def answer(self, text: str) -> None:
        self.calls.append(("answer", text))

    async def clear(self) -> None:
        self.calls.append(("clear", None))

    async def rollback(self) -> None:
        self.calls.append(("rollback", None))


def _t(msgid: str) -> str:
    return msgid


@pytest.mark.parametrize(("error", "cleared"), [
    (DomainError("The text is empty.", retry=True), False),
    (DomainError("There is no such order."), True),
    (DomainError("Bulletin No. %(number)s is published.", number=4, gone=True), True),
])
async def test_refusal_ends_the_conversation_unless_the_text_can_be_fixed(
        error: DomainError, cleared: bool) -> None:
    rec = _Recorder()
    await refuse_text(rec, rec, rec, error, _t)  # type: ignore[arg-type]
    assert rec.calls[0] == ("rollback", None)  # nothing of the refused attempt is kept
    assert rec.calls[1] == ("answer", error.render(_t))
    assert (("clear", None) in rec.calls) is cleared


@pytest.mark.parametrize("text", ["", "  \n ", "x" * 5000])
def test_text_rules_a_user_can_fix_are_marked_retry(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        clean_text(text)
    assert caught.value.retry and not caught.value.gone


@pytest.mark.parametrize("text", ["张某\n明天上午", "张某\n2018-10-17 09:00\n补齐缺报数据",
                                  "张某\n2018-10-17 09:00"])
def test_interview_form_errors_are_marked_retry(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_form(text)
    assert caught.value.retry
