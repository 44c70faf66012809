"""The 5-second promise and the per-user lock: Redis down, a slow handler, two messages at once, round trips."""

from __future__ import annotations

import threading
import time

import redis

import handlers
from bot import messages
from bot.replies import Text
from bot.simclient import WeChatUser
from tests.support.servers import free_port


def test_redis_unreachable_still_answers_200_with_the_apology(make_live):
    server = make_live(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    user = WeChatUser(server.url)
    started = time.monotonic()
    reply = user.text("PIN码怎么获取")
    elapsed = time.monotonic() - started
    assert reply.status == 200
    assert reply.text == messages.APOLOGY and "400-112-3838" in reply.text
    assert elapsed < 5


def test_a_slow_handler_gets_the_apology_before_wechat_gives_up(live, user, monkeypatch):
    def slow(message, ctx):
        time.sleep(6)
        return [Text("too late")]

    monkeypatch.setitem(handlers._messages, "location", slow)
    started = time.monotonic()
    reply = user.send("location", {"Location_X": "22.5", "Location_Y": "113.9", "Scale": "15", "Label": "深圳", "MsgId": 42})
    assert time.monotonic() - started < 5
    assert reply.status == 200 and reply.text == messages.APOLOGY


def test_a_failing_handler_gets_the_apology_and_no_500(live, user, monkeypatch):
    def broken(message, ctx):
        ctx.turn.load()
        raise RuntimeError("boom 110105194912310021")

    monkeypatch.setitem(handlers._messages, "link", broken)
    reply = user.send("link", {"Title": "t", "Description": "d", "Url": "http://x", "MsgId": 43})
    assert reply.status == 200 and reply.text == messages.APOLOGY
    # The lock was released: the user's next message is handled normally at once.
    started = time.monotonic()
    assert "申请证书" in user.text("帮助").text
    assert time.monotonic() - started < 1


def test_two_messages_from_one_user_are_handled_one_after_the_other(live, monkeypatch):
    user = WeChatUser(live.url)

    def count(message, ctx):
        # read-modify-write with a pause: without the per-user lock one increment would be lost
        n = int(ctx.turn.load() or b"0")
        time.sleep(0.3)
        ctx.turn.save(str(n + 1))
        return [Text(f"count={n + 1}")]

    monkeypatch.setitem(handlers._messages, "shortvideo", count)
    replies = []

    def send(i: int) -> None:
        replies.append(user.send("shortvideo", {"MediaId": "m", "ThumbMediaId": "t", "MsgId": 9000 + i}))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.text for r in replies) == ["count=1", "count=2"]
    assert live.services.redis.get(f"conv:{{{user.openid}}}") == b"2"


def test_a_text_message_costs_two_redis_round_trips(live, user, monkeypatch):
    calls = []
    original = redis.connection.Connection.send_packed_command

    def counting(self, command, check_health=True):
        if threading.current_thread().name.startswith("turn"):
            calls.append(1)
        return original(self, command, check_health)

    user.text("帮助")  # warm up the connection pool and the FAQ
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    reply = user.text("发票怎么开")
    assert reply.status == 200
    # admission + lock + state in one pipeline, then the finish script (save, cache the reply, unlock)
    assert len(calls) == 2, f"{len(calls)} round trips"
