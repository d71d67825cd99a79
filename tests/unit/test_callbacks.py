"""Callback payloads: every kind packs and parses back, fits Telegram's 64 bytes, keeps the
wire format of buttons already sent, and anything else fails with the one exception."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import callbacks as cb

TEXT = st.text(alphabet=st.characters(blacklist_characters=":"), max_size=12)
INT = st.integers(min_value=-(10**18) + 1, max_value=10**18 - 1)


def _strategy(kind: type[cb.Payload]) -> st.SearchStrategy[cb.Payload]:
    """Valid field values for `kind`."""
    args = {}
    for f in dataclasses.fields(kind):
        if f.name in kind.CHOICES:
            args[f.name] = st.sampled_from(sorted(kind.CHOICES[f.name]))
        elif f.type in ("int", int):
            args[f.name] = INT
        else:
            args[f.name] = TEXT
    return st.builds(kind, **args)


PAYLOADS = st.one_of(*(_strategy(k) for k in cb.ALL))


@given(PAYLOADS)
def test_pack_parse_round_trip_within_64_bytes(payload: cb.Payload) -> None:
    try:
        data = payload.pack()
    except cb.CallbackDataError:
        return  # refused at packing: never sent
    assert len(data.encode()) <= cb.MAX_BYTES
    assert type(payload).parse(data) == payload
    assert cb.parse_any(data) == payload


@given(st.text(max_size=80))
def test_arbitrary_text_only_raises_callback_data_error(data: str) -> None:
    for kind in cb.ALL:
        try:
            kind.parse(data)
        except cb.CallbackDataError:
            pass
    try:
        cb.parse_any(data)
    except cb.CallbackDataError:
        pass


@given(st.binary(max_size=70))
def test_arbitrary_bytes_decoded_only_raise_callback_data_error(raw: bytes) -> None:
    data = raw.decode("utf-8", errors="surrogateescape")
    for kind in cb.ALL:
        try:
            kind.parse(data)
        except cb.CallbackDataError:
            pass


@pytest.mark.parametrize("data, expected", [
    ("rp:cancel", cb.ReportAction("cancel")),
    ("rpn:410102:survey", cb.ReportUnit("n", "410102", "survey")),
    ("lang:zh_CN", cb.Language("zh_CN")),
    ("vrep:17", cb.VerifyReport(17)),
    ("vflow:urgent", cb.VerifyFlow("urgent")),
    ("bl:pub:3", cb.BulletinAction("pub", 3)),
    ("sv:ack:5", cb.Supervision("ack", 5)),
    ("sv:iv:4101", cb.InterviewOffer("4101")),
    ("sv:fdone", cb.AnswerDone()),
    ("sv:new:late:410102:2018-10-08", cb.NewOrder("late", "410102", "2018-10-08")),
    ("desk:ans:9", cb.DeskReply(9)),
    ("desk:cand:9", cb.DeskCandidate(9)),
    ("imp:done:4", cb.ImpostorHandled(4)),
    ("stfok:ab12cd34", cb.StaffConfirm("ab12cd34")),
    ("stfno:ab12cd34", cb.StaffCancel("ab12cd34")),
    ("faq:v:12:0:verify_enumerator", cb.FaqVote(12, "0", "verify_enumerator")),
    ("faq:a:12:verify_enumerator", cb.FaqAlternative(12, "verify_enumerator")),
    ("faq:o:12", cb.FaqOthers(12)),
    ("faq:h:12", cb.FaqHuman(12)),
])
def test_buttons_already_sent_still_parse(data: str, expected: cb.Payload) -> None:
    assert type(expected).parse(data) == expected
    assert expected.pack() == data
    assert cb.parse_any(data) == expected


@pytest.mark.parametrize("data", [
    None, "", "rp:", "rp:launch", "rpz:1:survey", "rpg:1", "vrep:x", "vrep:1:2", "sv:ack:",
    "sv:ack:99999999999999999999999", "bl:pub:-", "faq:v:1:2:t", "sv:new:soon:1:2",
    "sv:fdone:1", "x" * 100, "rpg:\udc80:survey", "faq:h:\ud800",
])
def test_stale_or_foreign_payloads_are_refused(data: str | None) -> None:
    with pytest.raises(cb.CallbackDataError):
        cb.parse_any(data)


def test_packing_refuses_more_than_64_bytes() -> None:
    with pytest.raises(cb.CallbackDataError):
        cb.FaqAlternative(1, "问" * 30).pack()
