"""Every message kind and event over HTTP with real callback XML."""

from __future__ import annotations

import json

from bot import messages
from bot.store import conv_key
from tests.conftest import wait_for


def test_subscribe_welcomes_and_names_the_menu(user):
    reply = user.event("subscribe")
    assert reply.status == 200 and "欢迎关注深圳CA" in reply.text and "菜单" in reply.text


def test_unsubscribe_forgets_the_conversation(user, redis_client):
    user.text("申请证书")
    assert redis_client.exists(conv_key(user.openid))
    reply = user.event("unsubscribe")
    assert reply.status == 200 and reply.body == "success"
    assert not redis_client.exists(conv_key(user.openid))


def test_voice_with_recognition_is_answered_as_text(user):
    assert "申请证书" in user.voice("帮助。").text


def test_voice_without_recognition_asks_for_text(user):
    assert user.voice(None).text == messages.VOICE_NOT_RECOGNISED


def test_image_is_acknowledged(user):
    assert user.image("media-1").text == messages.IMAGE_RECEIVED


def test_location_link_video_file_get_a_polite_pointer(user):
    assert user.send("location", {"Location_X": "1", "Location_Y": "2", "Scale": "3", "Label": "x", "MsgId": 11}).text == messages.LOCATION_RECEIVED
    assert user.send("link", {"Title": "t", "Description": "d", "Url": "http://x", "MsgId": 12}).text == messages.UNSUPPORTED
    assert user.send("video", {"MediaId": "m", "ThumbMediaId": "t", "MsgId": 13}).text == messages.UNSUPPORTED
    assert user.send("file", {"Title": "a.pdf", "Description": "", "FileKey": "k", "FileMd5": "m", "FileTotalLen": "3", "MsgId": 14}).text == messages.UNSUPPORTED


def test_unknown_message_type_gets_help(user):
    assert user.send("hologram", {"Payload": "x", "MsgId": 15}).text == messages.HELP


def test_unknown_event_is_acknowledged_silently(user):
    reply = user.event("some_future_event")
    assert reply.status == 200 and reply.body == "success"


def test_view_event_is_silent(user):
    assert user.event("VIEW", "https://www.szca.com").body == "success"


def test_scan_event_answers(user):
    assert user.event("SCAN", "123").text == messages.HELP


def test_menu_click_faq(user):
    assert user.click("FAQ").text == messages.FAQ_MENU


def test_menu_click_my_applications_when_none(user):
    assert user.click("MY_APPLICATIONS").text == messages.MY_APPLICATIONS_EMPTY


def test_menu_click_unknown_key_gets_help(user):
    assert user.click("NO_SUCH_KEY").text == messages.HELP


def test_human_agent_transfers_and_pushes_a_note_through_the_emulator(user, worker):
    reply = user.click("HUMAN_AGENT")
    assert reply.msg_type == "transfer_customer_service"
    pushed = wait_for(lambda: user.pushed())
    assert pushed[0]["msgtype"] == "text" and pushed[0]["text"]["content"] == messages.HANDOFF_PENDING
    assert len(user.pushed()) == 1  # exactly once


def test_menu_command_creates_the_menu_through_the_api(live, redis_client):
    from bot import menu

    live.services.wechat.menu.create(menu.load())
    stored = json.loads(redis_client.get("emu:menu"))
    keys = {b.get("key") for top in stored["button"] for b in [top, *top.get("sub_button", [])]}
    assert {"NEW_APPLICATION", "MY_APPLICATIONS", "FAQ", "HUMAN_AGENT"} <= keys


def test_conversation_state_expires_after_seven_days(user, redis_client):
    user.text("申请证书")
    ttl = redis_client.ttl(conv_key(user.openid))
    assert 7 * 24 * 3600 - 60 < ttl <= 7 * 24 * 3600


def test_every_key_of_a_user_carries_the_openid_hash_tag(user, redis_client):
    user.text("申请证书")
    keys = [k.decode() for k in redis_client.scan_iter(f"*{user.openid}*")]
    assert keys and all(f"{{{user.openid}}}" in k for k in keys)
