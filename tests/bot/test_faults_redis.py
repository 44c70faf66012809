"""Redis failing under a running service: stopped, hung (SIGSTOP) and stopped mid-run under load. Every callback
still answers within WeChat's 5 s with the apology and never a 500; when Redis is back the dialogues continue
where they were, and nothing is half-written. A private, persistent redis-server per test (never the shared one)."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator

import pytest
import redis as redis_lib

from bot import messages
from bot import services as services_mod
from bot.simclient import Reply, WeChatUser
from bot.store import RECORD_INDEX, conv_key, lock_key, number_key, record_key, records_key
from tests.bot.test_application_http import CASES, fill
from tests.conftest import wait_for
from tests.dialogs.conftest import TYPICAL
from tests.support.servers import LiveServer, RedisProcess

ANSWERS = {**TYPICAL, **CASES["org"], "confirm": "确认"}
PROMISE_S = 5.0  # WeChat gives up after 5 s


@pytest.fixture
def private() -> Iterator[RedisProcess]:
    server = RedisProcess.start_new(persistent=True)
    yield server
    server.stop()


@pytest.fixture
def app(private: RedisProcess, make_live) -> Iterator[LiveServer]:
    installed = services_mod.current()  # creating an app installs its services: put them back after
    yield make_live(redis_url=private.url)
    services_mod.install(installed)


@pytest.fixture
def client(private: RedisProcess) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(private.url, socket_timeout=2)


def dialog(client: redis_lib.Redis, openid: str) -> dict | None:
    raw = client.get(conv_key(openid))
    return json.loads(raw).get("dialog") if raw else None


def next_key(d: dict) -> str:
    return "confirm" if d.get("confirming") else re.sub(r"\.\d+\.", ".", d["cursor"])


def answer_steps(user: WeChatUser, client: redis_lib.Redis, steps: int) -> None:
    for _ in range(steps):
        reply = user.text(ANSWERS[next_key(dialog(client, user.openid))])
        assert reply.status == 200 and reply.text != messages.APOLOGY


def timed(user: WeChatUser, text: str) -> tuple[Reply, float]:
    started = time.monotonic()
    reply = user.text(text)
    return reply, time.monotonic() - started


def assert_apology(reply: Reply, elapsed: float) -> None:
    assert reply.status == 200, reply.status
    assert reply.text == messages.APOLOGY and "400-112-3838" in reply.text
    assert elapsed < PROMISE_S, f"{elapsed:.2f} s"


def same_user(user: WeChatUser) -> WeChatUser:
    """The same WeChat user on another HTTP session: requests sessions are not shared across threads."""
    return WeChatUser(user.base_url, openid=user.openid)


def during_outage(users: list[WeChatUser], before: dict[str, dict], per_user: int = 3) -> None:
    """Each user sends, from several threads at once, the answer the bot is waiting for and a question."""
    jobs = [(same_user(u), t) for u in users
            for t in [ANSWERS[next_key(before[u.openid])]] * (per_user - 1) + ["PIN码怎么获取"]]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for reply, elapsed in pool.map(lambda job: timed(*job), jobs):
            assert_apology(reply, elapsed)


def start_dialogues(app: LiveServer, client: redis_lib.Redis, n: int, steps: int) -> list[WeChatUser]:
    users = [WeChatUser(app.url) for _ in range(n)]
    for i, u in enumerate(users):
        u.text("申请证书")
        answer_steps(u, client, steps + i)  # users at different fields
    return users


def resume_and_finish(users: list[WeChatUser], client: redis_lib.Redis, before: dict[str, dict]) -> None:
    for u in users:
        # the outage changed nothing: the same field is still asked, with the same answers
        assert dialog(client, u.openid) == before[u.openid]
        # the first message after the outage is handled normally (no stale pooled connection) and moves on
        key = next_key(before[u.openid])
        reply = u.text(ANSWERS[key])
        assert reply.status == 200 and reply.text != messages.APOLOGY
        after = dialog(client, u.openid)
        assert key in after["answers"] and next_key(after) != key
        fill(u, client, ANSWERS)
        done = u.text("确认")
        number = re.search(r"SZ\d{14}", done.text).group(0)
        assert_whole(client, u.openid, [number])


def assert_whole(client: redis_lib.Redis, openid: str, numbers: list[str]) -> None:
    """The user's records are complete where they exist: record, owner's list, number index and global index
    together; no lock left behind."""
    assert client.get(lock_key(openid)) is None
    listed = sorted(n.decode() for n in client.zrange(records_key(openid), 0, -1))
    assert listed == sorted(numbers)
    for number in numbers:
        assert json.loads(client.get(record_key(openid, number)))["number"] == number
        assert client.get(number_key(number)) == openid.encode()
        assert client.zscore(RECORD_INDEX, number) is not None


def test_redis_stopped_then_restarted(private, app, client):
    users = start_dialogues(app, client, 3, 4)
    before = {u.openid: dialog(client, u.openid) for u in users}
    private.stop()
    during_outage(users, before)
    private.start()
    resume_and_finish(users, client, before)



def test_redis_hung_then_resumed(private, app, client):
    users = start_dialogues(app, client, 3, 4)
    before = {u.openid: dialog(client, u.openid) for u in users}
    private.pause()
    try:
        # more messages at once than the callback's thread pool has threads: the socket timeout frees them
        during_outage(users, before, per_user=8)
    finally:
        private.resume()
    # the pool is not left clogged: new users at once are answered normally within the promise
    newcomers = [WeChatUser(app.url) for _ in range(12)]
    with ThreadPoolExecutor(len(newcomers)) as pool:
        for reply, elapsed in pool.map(lambda u: timed(u, "帮助"), newcomers):
            assert reply.status == 200 and "申请证书" in reply.text and elapsed < PROMISE_S
    resume_and_finish(users, client, before)


@dataclass
class Sent:
    key: str
    started: float
    ended: float
    status: int
    text: str

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.text != messages.APOLOGY


@dataclass
class Applicant:
    """A user filling applications one after the other, one message at a time, as fast as the bot answers.

    What to send is read from Redis before each message (never guessed); while Redis cannot be read, the user
    asks an FAQ question instead, which must not change the form."""

    user: WeChatUser
    client: redis_lib.Redis
    sent: list[Sent] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                d = dialog(self.client, self.user.openid)
                key = "start" if d is None else next_key(d)
                text = "申请证书" if d is None else ANSWERS[key]
            except redis_lib.RedisError:
                key, text = "faq", "PIN码怎么获取"
                stop.wait(0.1)  # pacing, so the outage is not one tight loop
            started = time.monotonic()
            reply = self.user.text(text)
            self.sent.append(Sent(key, started, time.monotonic(), reply.status, reply.text or ""))

    def ok_count(self, since: float = 0.0) -> int:
        return sum(1 for s in self.sent if s.ok and s.started >= since)


def test_redis_stopped_mid_run_under_load(private, app, client):
    applicants = [Applicant(WeChatUser(app.url), redis_lib.Redis.from_url(private.url, socket_timeout=2))
                  for _ in range(8)]
    stop = threading.Event()
    threads = [threading.Thread(target=a.run, args=(stop,)) for a in applicants]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(a.ok_count() >= 5 for a in applicants))
        down = time.monotonic()
        private.stop()
        time.sleep(2)  # the outage itself, not a wait for anything
        private.start()
        up = time.monotonic()
        wait_for(lambda: all(a.ok_count(since=up) >= 15 for a in applicants), timeout=30)
    finally:
        stop.set()
        for t in threads:
            t.join()

    for a in applicants:
        assert all(s.status == 200 and s.ended - s.started < PROMISE_S for s in a.sent)
        # the apology only while Redis was away (a message in flight when it stopped included)
        late = [(s.key, round(s.started - up, 2)) for s in a.sent if not s.ok and not down - 1 < s.started < up + 1]
        assert not late, late
        assert any(not s.ok for s in a.sent)
        check_nothing_half_written(a, client, down, up)


def check_nothing_half_written(a: Applicant, client: redis_lib.Redis, down: float, up: float) -> None:
    openid = a.user.openid
    in_outage = [s for s in a.sent if not s.ok and down - 1 < s.started < up + 1]
    numbers = sorted(n.decode() for n in client.zrange(records_key(openid), 0, -1))
    assert_whole(client, openid, numbers)
    announced = {n for s in a.sent if s.ok for n in re.findall(r"SZ\d{14}", s.text) if s.key == "confirm"}
    unannounced = set(numbers) - announced
    # Every record was announced to its user, but for at most one whose confirmation was under way as Redis
    # stopped: saved, yet its answer lost. Then the draft went with it: the user was not asked to confirm again
    # (which would have made a second application of the same form).
    assert len(unannounced) <= 1, unannounced
    if unannounced:
        lost = [i for i, s in enumerate(a.sent) if s.key == "confirm" and s in in_outage]
        assert lost, "a record nobody confirmed"
        later = [s.key for s in a.sent[lost[0] + 1:] if s.key != "faq"]
        assert later[:1] == ["start"], later[:3]
    d = dialog(client, openid)
    if d is None:
        return
    starts = [i for i, s in enumerate(a.sent) if s.key == "start"]
    draft = a.sent[starts[-1] + 1:] if starts else a.sent
    accepted = {s.key for s in draft if s.ok and s.key not in ("faq", "confirm")}
    stored = {re.sub(r"\.\d+\.", ".", k) for k in d.get("answers") or {}} & set(ANSWERS)  # not the derived ones
    # every answer the user saw accepted is kept; at most one more, the one in flight as Redis stopped
    assert accepted <= stored | {"consent"}, accepted - stored
    extra = stored - accepted
    assert len(extra) <= 1 and all(any(s.key == k for s in in_outage) for k in extra), extra


def test_redis_stopping_as_an_application_is_confirmed_leaves_no_orphan_record(private, app, client, monkeypatch):
    user = WeChatUser(app.url)
    user.text("申请证书")
    fill(user, client, ANSWERS)
    store = app.services.store
    finish = store.finish_turn

    def stop_first(turn, reply):  # Redis goes away between the handler and the turn's commit
        if turn._record is not None:
            private.stop()
        return finish(turn, reply)

    monkeypatch.setattr(store, "finish_turn", stop_first)
    reply, elapsed = timed(user, "确认")
    assert_apology(reply, elapsed)
    monkeypatch.undo()
    private.start()
    # neither the record nor the draft's end was written: the user confirms again and gets one application
    assert client.zcard(records_key(user.openid)) == 0 and dialog(client, user.openid)["confirming"]
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    assert_whole(client, user.openid, [number])
    assert dialog(client, user.openid) is None


def test_messages_answered_with_the_apology_are_not_applied_when_redis_comes_back(private, app, client):
    """A hung Redis stalls every turn for the socket timeout, so more messages than turn threads queue up
    behind them. Those still queued at the deadline were answered with the apology: when Redis returns
    they must not be handled after all (the user was told to send them again)."""
    executor = app.app.extensions["szca"]["executor"]
    users = [WeChatUser(app.url) for _ in range(executor._max_workers * 5)]  # five rounds of socket timeouts
    for u in users:
        u.text("申请证书")
    assert all(dialog(client, u.openid)["cursor"] == "consent" for u in users)
    private.pause()
    try:
        with ThreadPoolExecutor(len(users)) as pool:
            for reply, elapsed in pool.map(lambda u: timed(u, "同意"), users):
                assert_apology(reply, elapsed)
    finally:
        private.resume()
    # Every turn queued so far has run once all the turn threads are free at the same time.
    barrier = threading.Barrier(executor._max_workers)
    for done in [executor.submit(barrier.wait, 10) for _ in range(executor._max_workers)]:
        done.result()
    assert [u.openid for u in users if dialog(client, u.openid)["cursor"] != "consent"] == []
    # and they are handled when sent again
    assert users[0].text("同意").text != messages.APOLOGY and dialog(client, users[0].openid)["cursor"] != "consent"
