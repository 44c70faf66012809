"""Human hand-off over HTTP: 人工 / the menu / three misunderstood messages transfer the chat, the bot stays
silent until kf_close_session or the time runs out, off-duty hours say when agents are back, and the agent's
context is recorded with personal data masked."""

from __future__ import annotations

import json
from datetime import date

from bot import messages
from bot.agents import HANDOFF_LOG
from bot.simclient import WeChatUser
from bot.store import conv_key, hash_openid
from tests.conftest import wait_for
from tests.dialogs.conftest import TYPICAL


def test_the_bot_stays_silent_while_an_agent_has_the_chat(user, redis_client):
    assert user.text("转人工").msg_type == "transfer_customer_service"
    during = user.text("PIN码怎么获取")
    assert during.msg_type == "transfer_customer_service"  # routed to the agents, no bot answer
    assert user.event("kf_close_session", None).body == "success"
    after = user.text("帮助")
    assert after.msg_type == "text" and "申请证书" in after.text


def test_a_hand_off_lapses_after_its_time(user, redis_client):
    user.click("HUMAN_AGENT")
    state = json.loads(redis_client.get(conv_key(user.openid)))
    state["agent_until"] = 1.0  # as if 30 minutes had passed without a close event
    redis_client.set(conv_key(user.openid), json.dumps(state))
    assert user.text("帮助").msg_type == "text"


def test_three_misunderstood_messages_in_a_row_bring_a_human(user, worker):
    assert "答不上来" in user.text("今天深圳天气怎么样").text
    assert "答不上来" in user.text("讲个笑话").text
    third = user.text("社保卡怎么补办")
    assert third.msg_type == "transfer_customer_service"
    wait_for(lambda: any(m.get("text", {}).get("content") == messages.HANDOFF_AFTER_MISSES for m in user.pushed()))


def test_an_understood_message_resets_the_count(user):
    user.text("今天深圳天气怎么样")
    user.text("讲个笑话")
    user.text("发票在哪里下载")
    assert user.text("社保卡怎么补办").msg_type == "text"


def test_outside_service_hours_the_user_is_told_when_agents_are_back(make_live):
    tomorrow = date.today().isoweekday() % 7 + 1
    server = make_live(agent_weekdays=str(tomorrow), agent_hours="09:00-18:00")
    user = WeChatUser(server.url)
    reply = user.text("人工")
    assert reply.msg_type == "text" and "明天 09:00" in reply.text and "400-112-3838" in reply.text
    assert user.text("帮助").msg_type == "text"  # not silenced: no agent has the chat


def test_the_agent_gets_the_context_with_personal_data_masked(user, redis_client):
    user.text("申请证书")
    user.text("同意")
    user.text(f"我的身份证是{TYPICAL['handler.id']}")
    user.text("人工")
    context = json.loads(redis_client.lindex(HANDOFF_LOG, 0))
    assert context["user"] == hash_openid(user.openid) and context["reason"]
    assert any("我的身份证是" in m for m in context["recent"])
    assert TYPICAL["handler.id"] not in json.dumps(context, ensure_ascii=False)


def test_a_draft_left_for_a_day_is_reminded_once(user, worker, live):
    from datetime import datetime, timedelta

    from bot import notify

    user.text("申请证书")
    user.text("同意")
    assert user.openid in {m.decode() for m in live.services.redis.zrange("drafts", 0, -1)}
    later = datetime.now() + timedelta(hours=25)
    assert user.openid in notify.remind_stale_drafts(live.services, later)
    assert user.openid not in notify.remind_stale_drafts(live.services, later)  # once
    wait_for(lambda: len([m for m in user.pushed() if "继续" in m.get("text", {}).get("content", "")]) >= 1)
    user.text("取消")
    user.text("是")
    assert user.openid not in {m.decode() for m in live.services.redis.zrange("drafts", 0, -1)}
