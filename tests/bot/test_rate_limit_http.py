"""Per-user flood control: past the limit a user's messages stop reaching handlers (one polite note per
window), change nothing, and other users are answered as usual."""

from __future__ import annotations

import time

from bot import messages
from bot.simclient import WeChatUser
from bot.store import conv_key


def test_a_flood_from_one_user_is_cut_and_others_are_not_slowed(make_live, redis_client):
    server = make_live(rate_limit_messages=5, rate_limit_window_s=60)
    flooder, other = WeChatUser(server.url), WeChatUser(server.url)
    replies = [flooder.text("帮助") for _ in range(5)]
    assert all("申请证书" in r.text for r in replies)
    state_before = redis_client.get(conv_key(flooder.openid))
    over = flooder.text("申请证书")
    assert over.status == 200 and over.text == messages.TOO_FAST
    assert flooder.text("申请证书").body == "success"  # told once per window, then silent
    assert redis_client.get(conv_key(flooder.openid)) == state_before  # nothing changed
    started = time.monotonic()
    assert "申请证书" in other.text("帮助").text
    assert time.monotonic() - started < 1


def test_the_default_limit_leaves_normal_chatting_alone(make_live):
    from bot.config import Settings

    default = Settings().rate_limit_messages
    server = make_live(rate_limit_messages=default)
    user = WeChatUser(server.url)
    for _ in range(default):
        assert "申请证书" in user.text("帮助").text
