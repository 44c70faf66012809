"""The callback protocol over HTTP: verification, signatures, time window, nonces, retries, hostile XML, AES."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import requests

from bot.simclient import WeChatUser, message_xml
from bot.store import conv_key, seen_key
from bot.wechat import sign
from tests.conftest import AES_KEY

DATA = Path(__file__).parent.parent / "data"


def _user_keys(redis_client, openid: str) -> list[bytes]:
    return list(redis_client.scan_iter(f"*{{{openid}}}*"))


def test_url_verification_echoes_only_with_the_right_signature(live, user):
    q = user.signed_query()
    ok = requests.get(f"{live.url}/wechat", params={**q, "echostr": "hello-123"})
    assert ok.status_code == 200 and ok.text == "hello-123"
    bad = requests.get(f"{live.url}/wechat", params={**q, "signature": "0" * 40, "echostr": "x"})
    assert bad.status_code == 403 and "hello" not in bad.text
    assert requests.get(f"{live.url}/wechat", params={"echostr": "x"}).status_code == 403


def test_plain_text_message_gets_a_passive_reply(user):
    reply = user.text("帮助")
    assert reply.status == 200
    assert reply.msg_type == "text" and "申请证书" in reply.text
    assert reply.xml["ToUserName"] == user.openid


def test_wrong_signature_is_refused_and_nothing_stored(live, user, redis_client):
    q = user.signed_query()
    q["signature"] = sign("not-the-token", q["timestamp"], q["nonce"])
    xml = message_xml(user.openid, "gh", "text", {"Content": "你好", "MsgId": 1})
    reply = user.post_xml(xml, query=q)
    assert reply.status == 403
    assert _user_keys(redis_client, user.openid) == []


@pytest.mark.parametrize("skew", [-301, 301, -3600])
def test_timestamp_outside_the_window_is_refused(user, redis_client, skew):
    reply = user.text("你好", timestamp=int(time.time()) + skew)
    assert reply.status == 403
    assert _user_keys(redis_client, user.openid) == []


def test_timestamp_inside_the_window_is_accepted(user):
    assert user.text("帮助", timestamp=int(time.time()) - 250).status == 200


def test_a_nonce_reused_for_another_message_is_a_replay(user, redis_client):
    nonce = f"replay-{uuid.uuid4().hex[:12]}"  # unique: a shared Redis remembers nonces for 300 s across runs
    first = user.text("帮助", nonce=nonce)
    assert first.status == 200
    replay = user.text("另一条消息", nonce=nonce)
    assert replay.status == 403


def test_wechat_retry_of_the_same_message_returns_the_same_reply_and_changes_nothing(user, redis_client):
    xml = message_xml(user.openid, "gh", "text", {"Content": "申请证书", "MsgId": 987654321})
    first = user.post_xml(xml)
    state_after_first = redis_client.get(conv_key(user.openid))
    # WeChat's retry: same message; sometimes the very same request (same nonce), sometimes a new one.
    same_request = user.signed_query()
    again = user.post_xml(xml, query=same_request)
    again_same_nonce = user.post_xml(xml, query=same_request)
    assert first.status == again.status == again_same_nonce.status == 200
    assert again.text == first.text == again_same_nonce.text
    assert redis_client.get(conv_key(user.openid)) == state_after_first


def test_event_retry_is_recognised_by_sender_time_and_event(user):
    created = int(time.time())
    first = user.event("subscribe", create_time=created)
    second = user.event("subscribe", create_time=created)
    assert first.status == second.status == 200
    assert first.text == second.text and "欢迎" in first.text


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"])
def test_xml_with_doctype_or_entities_is_refused(user, redis_client, name):
    xml = (DATA / name).read_text().replace("OPENID", user.openid)
    reply = user.post_xml(xml)
    assert reply.status == 400 and "Traceback" not in reply.body and "passwd" not in reply.body
    assert _user_keys(redis_client, user.openid) == []


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><ToUserName>",  # truncated
        b"not xml at all",
        b"<root><MsgType>text</MsgType></root>",  # wrong root
        "<xml><Content>\u4f60\u597d</Content></xml>".encode("gbk"),  # wrong encoding
        b"<xml><MsgType><![CDATA[text]]></MsgType><Content>x</Content></xml>",  # no sender
        b"",
    ],
)
def test_malformed_bodies_get_400_without_a_stack_trace(live, user, body):
    resp = requests.post(f"{live.url}/wechat", params=user.signed_query(), data=body)
    assert resp.status_code == 400
    assert "Traceback" not in resp.text and "File \"" not in resp.text


def test_uploads_elsewhere_are_not_bound_by_the_callback_limit(live):
    # The 64 KiB cap is the callback's; media uploads (the emulator here, mobile pages later) take photos.
    token = requests.get(f"{live.url}/emulator/cgi-bin/token",
                         params={"appid": live.services.settings.wechat_app_id, "secret": "dev-secret"}).json()
    resp = requests.post(f"{live.url}/emulator/cgi-bin/media/upload", params={"access_token": token["access_token"]},
                         files={"media": ("a.jpg", b"\xff\xd8\xff" + b"0" * 500_000, "image/jpeg")})
    assert resp.status_code == 200 and resp.json()["media_id"]


def test_oversized_body_is_refused(live, user, redis_client):
    xml = message_xml(user.openid, "gh", "text", {"Content": "长" * 30000, "MsgId": 5})
    assert len(xml.encode()) > 64 * 1024
    resp = requests.post(f"{live.url}/wechat", params=user.signed_query(), data=xml.encode())
    assert resp.status_code == 400
    assert _user_keys(redis_client, user.openid) == []


def test_safe_mode_round_trip(aes_user):
    reply = aes_user.text("帮助")
    assert reply.status == 200
    assert reply.msg_type == "text" and "申请证书" in reply.text  # decrypted by the test client


def test_compatible_mode_plain_message_is_still_accepted(user):
    # In compatible mode WeChat may send plain messages to a server that also has an AES key.
    assert user.text("帮助").status == 200


def test_safe_mode_with_wrong_msg_signature_is_refused(aes_user, redis_client):
    xml = message_xml(aes_user.openid, "gh", "text", {"Content": "你好", "MsgId": 77})
    q = aes_user.signed_query()
    body = (
        "<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[AAAA]]></Encrypt></xml>"
    )
    resp = requests.post(f"{aes_user.base_url}/wechat", params={**q, "encrypt_type": "aes", "msg_signature": "0" * 40},
                         data=body.encode())
    assert resp.status_code == 403
    assert _user_keys(redis_client, aes_user.openid) == []
    assert xml  # the plaintext never reached the server


def test_safe_mode_with_a_broken_payload_is_400(aes_user):
    q = aes_user.signed_query()
    encrypt = "not base64 at all !!!"
    msg_signature = sign(aes_user.token, q["timestamp"], q["nonce"], encrypt)
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    resp = requests.post(f"{aes_user.base_url}/wechat",
                         params={**q, "encrypt_type": "aes", "msg_signature": msg_signature}, data=body.encode())
    assert resp.status_code == 400 and "Traceback" not in resp.text


def test_safe_mode_message_to_a_server_without_aes_key_is_400(make_live):
    server = make_live()
    user = WeChatUser(server.url, aes_key=AES_KEY)
    assert user.text("你好").status == 400


def test_seen_marker_is_written_for_an_accepted_message(user, redis_client):
    reply = user.text("帮助")
    assert reply.status == 200
    assert any(k.startswith(b"seen:") for k in _user_keys(redis_client, user.openid))
    assert redis_client.exists(seen_key(user.openid, "does-not-exist")) == 0


def test_two_different_clicks_in_the_same_second_are_not_a_retry(user):
    created = int(time.time())
    faq = user.event("CLICK", "FAQ", create_time=created)
    mine = user.event("CLICK", "MY_APPLICATIONS", create_time=created)
    assert faq.text != mine.text
