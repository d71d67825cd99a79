"""Three webhook workers on one PostgreSQL and Redis; one killed with -9 mid-burst (issue #16).

200 chats × 5 `/verify` messages are posted round-robin to the workers (a chat's next message
after the previous one was accepted, as Telegram delivers a chat); the worker holding the
outbox sender's lease is killed with SIGKILL after a third of the burst and restarted. Every
message must be answered, in each chat's order, and once (a reply in flight at the kill,
which the next claimant sends again and logs, may arrive twice); the sender and the scheduler are
active in exactly one process at any time and move off the dead one; stopping a worker with
SIGTERM leaves the shared webhook registered.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import defaultdict
from pathlib import Path

from sqlalchemy import func, select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.inbox import InboxUpdate
from emulator import Emulator
from emulator.fleet import Fleet, holder_pid, lease_events, message_update

REDIS_URL = os.environ.get("CENSUSBOT_TEST_REDIS_SCALEOUT", "redis://127.0.0.1:6379/11")
CHATS, PER_CHAT, WORKERS = 200, 5, 3
LEASES = {"outbox-sender": "censusbot:lease:outbox-sender",
          "scheduler": "censusbot:lease:scheduler"}


def staff_id(chat: int, k: int) -> str:
    """The ID a chat's k-th message asks about (its reply names it back)."""
    return f"ZZ-{410000 + chat:06d}-{k:04d}"


async def _redis_holders() -> dict[str, str | None]:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        return {name: await client.get(key) for name, key in LEASES.items()}
    finally:
        await client.aclose()


async def _clear_leases() -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        await client.delete(*LEASES.values())
    finally:
        await client.aclose()


def _check_one_holder(events: list[tuple[float, str, str, str]], lease: str,
                      deaths: dict[int, float]) -> None:
    """Replay the lease's hand-overs: never two live holders at once."""
    holding: dict[int, float] = {}
    timeline = [(at, what, holder_pid(h)) for at, name, what, h in events if name == lease]
    timeline += [(at, "died", pid) for pid, at in deaths.items()]
    for at, what, pid in sorted(timeline):
        if what == "taken":
            others = [p for p in holding if p != pid]
            assert not others, f"{lease}: {pid} took it at {at} while {others} held it"
            holding[pid] = at
        else:
            holding.pop(pid, None)


def _resent_chats(logs: list[Path]) -> list[int]:
    """The chats whose cut-off reply a worker sent again, one entry per such reply."""
    found = []
    for path in logs:
        if path.exists():
            found += [int(m) for m in re.findall(
                r"\(chat (-?\d+)\): its reply was in flight", path.read_text(errors="replace"))]
    return found


async def _diagnose(pg_url: str, emu: Emulator, users: list[dict]) -> str:
    """What a stalled burst left behind: replies missing, and the inbox rows of their chats."""
    sent = {r.chat_id for r in emu.sent_log if r.method == "sendMessage"}
    counts: dict[int, int] = defaultdict(int)
    for r in emu.sent_log:
        if r.method == "sendMessage":
            counts[r.chat_id] += 1
    short = [u["id"] for u in users if counts[u["id"]] < PER_CHAT]
    engine = create_engine(pg_url)
    try:
        async with create_sessionmaker(engine)() as s:
            states = dict((await s.execute(select(InboxUpdate.state, func.count())
                                           .group_by(InboxUpdate.state))).all())
            rows = (await s.execute(select(InboxUpdate.chat_id, InboxUpdate.update_id,
                                           InboxUpdate.state, InboxUpdate.attempts)
                                    .where(InboxUpdate.chat_id.in_(short[:5]))
                                    .order_by(InboxUpdate.chat_id, InboxUpdate.update_id))).all()
    finally:
        await engine.dispose()
    return (f"{len(short)} chats short of replies ({len(sent)} chats answered at all); "
            f"inbox states {states}; their rows {[tuple(r) for r in rows]}; "
            f"replies there {[counts[c] for c in short[:5]]}")


async def test_three_workers_kill_nine_mid_burst(pg_url: str, tmp_path: Path) -> None:
    await _clear_leases()
    emu = Emulator(bot_username="census_test_bot")
    await emu.start()
    fleet = Fleet(WORKERS, api_base=emu.base_url, token=emu.token, database_url=pg_url,
                  redis_url=REDIS_URL, log_dir=tmp_path, extra_env={
                      "CENSUSBOT_SCHEDULER": "true",
                      "CENSUSBOT_UPDATE_WORKERS": "8",
                      "CENSUSBOT_LOOKUPS_PER_MINUTE": "1000",
                      "CENSUSBOT_LOOKUP_SCAN_THRESHOLD": "100000",
                      "CENSUSBOT_LOOKUP_OFFICE_LIMIT": "100000",
                      "CENSUSBOT_OUTBOX_LEASE_TTL": "12",
                      "CENSUSBOT_SCHEDULER_LEASE_TTL": "12",
                  })
    users = [emu.user(id=5_000_000 + c, first_name=f"U{c}", language_code="en")
             for c in range(CHATS)]
    deaths: dict[int, float] = {}
    try:
        await fleet.start()
        counter = iter(range(1, CHATS * PER_CHAT + 1))
        accepted = 0
        half = asyncio.Event()

        async def chat(c: int) -> None:
            nonlocal accepted
            for k in range(1, PER_CHAT + 1):
                upd = message_update(next(counter), users[c], f"/verify {staff_id(c, k)}")
                await fleet.deliver(upd)
                accepted += 1
                if accepted >= CHATS * PER_CHAT // 3:
                    half.set()

        burst = asyncio.gather(*(chat(c) for c in range(CHATS)))
        await asyncio.wait_for(half.wait(), 300)
        holders = await _redis_holders()
        victim_pid = holder_pid(holders["outbox-sender"]) if holders["outbox-sender"] else 0
        victim = next((w for w in fleet.workers if w.alive and w.proc
                       and w.proc.pid == victim_pid), fleet.workers[0])
        dead_pid = victim.proc.pid if victim.proc else 0
        deaths[dead_pid] = victim.kill()
        await asyncio.sleep(1.0)
        victim.start()
        await fleet.wait_healthy(victim)
        await asyncio.wait_for(burst, 600)

        # Every message answered, generous time for a loaded machine; then a quiet spell in
        # which a duplicate would show.
        wait = float(os.environ.get("CENSUSBOT_TEST_SCALEOUT_WAIT", "300"))
        deadline = time.monotonic() + wait
        while sum(1 for r in emu.sent_log if r.method == "sendMessage") < CHATS * PER_CHAT:
            if time.monotonic() >= deadline:
                raise AssertionError(f"replies did not all arrive in {wait:.0f} s: "
                                     + await _diagnose(pg_url, emu, users))
            await asyncio.sleep(0.5)
        await asyncio.sleep(5.0)

        replies: dict[int, list[str]] = defaultdict(list)
        for r in emu.sent_log:
            if r.method == "sendMessage":
                replies[r.chat_id].append(r.text or "")
        # A reply in flight when its process was killed is sent again by the next claimant,
        # which logs it: only such a reply may arrive twice (Telegram cannot say whether the
        # first call reached it), and only once more.
        resent = _resent_chats([w.log_path for w in fleet.workers])
        assert len(resent) <= 8, f"more replies in flight at the kill than update workers: {resent}"
        lost = duplicated = out_of_order = unexpected = 0
        for c, user in enumerate(users):
            asked = [staff_id(c, k) for k in range(1, PER_CHAT + 1)]
            answered = [next((a for a in asked if a in text), "?") for text in replies[user["id"]]]
            lost += sum(1 for a in asked if a not in answered)
            unexpected += answered.count("?")
            twice = len(answered) - len(set(answered))
            duplicated += max(0, twice - resent.count(user["id"]))
            once = list(dict.fromkeys(answered))
            out_of_order += [a for a in once if a in asked] != asked
        assert (lost, duplicated, out_of_order, unexpected) == (0, 0, 0, 0), \
            f"lost {lost}, duplicated {duplicated}, out of order {out_of_order}, " \
            f"unexpected replies {unexpected}"

        engine = create_engine(pg_url)
        async with create_sessionmaker(engine)() as s:
            states = dict((await s.execute(select(InboxUpdate.state, func.count())
                                           .group_by(InboxUpdate.state))).all())
        await engine.dispose()
        assert states == {"done": CHATS * PER_CHAT}

        # The singletons: a live process holds each lease now, the dead one never again,
        # and no two processes held one at the same time.
        deadline = time.monotonic() + 60
        while True:
            holders = await _redis_holders()
            live = {w.proc.pid for w in fleet.workers if w.alive and w.proc}
            if all(h and holder_pid(h) in live for h in holders.values()):
                break
            assert time.monotonic() < deadline, f"leases not taken over: {holders}"
            await asyncio.sleep(0.5)
        events = lease_events([w.log_path for w in fleet.workers])
        for lease in LEASES:
            _check_one_holder(events, lease, deaths)
            assert any(name == lease and what == "taken" for _, name, what, _ in events)

        # SIGTERM one worker: the others go on, and the shared webhook stays registered.
        registered = emu.webhook
        assert registered is not None
        assert fleet.workers[1].terminate() == 0
        assert emu.webhook == registered
    finally:
        await fleet.stop()
        await emu.stop()
