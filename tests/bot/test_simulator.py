"""The simulator's JSON API over HTTP: it speaks signed XML to /wechat, stores photos through the emulated media
API, reads the emulator's outbox, and vanishes with real credentials."""

from __future__ import annotations

import secrets
import struct
import zlib

import requests
from flask import Flask

from bot import menu, messages, simulator
from bot.app import create_app
from tests.conftest import make_settings
from tests.support.servers import LiveServer, free_port


def openid() -> str:
    return "osim" + secrets.token_urlsafe(18)


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid PNG without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x10\xa0\x40" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def send(live: LiveServer, **payload: object) -> requests.Response:
    return requests.post(f"{live.url}/simulator/api/send", json=payload, timeout=10)


def test_page_is_the_chat_with_the_custom_menu(live):
    resp = requests.get(f"{live.url}/simulator", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    for button in menu.load()["button"]:
        assert button["name"] in resp.text
        for sub in button.get("sub_button", []):
            assert sub["name"] in resp.text
    assert 'data-key="FAQ"' in resp.text and 'data-url="https://www.szca.com"' in resp.text


def test_subscribe_and_text_get_the_passive_reply(live):
    who = openid()
    welcome = send(live, openid=who, kind="subscribe")
    assert welcome.status_code == 200
    assert welcome.json()["reply"] == {"type": "text", "text": messages.WELCOME}
    answer = send(live, openid=who, kind="text", content="帮助")
    assert answer.status_code == 200
    reply = answer.json()["reply"]
    assert reply["type"] == "text" and reply["text"]


def test_menu_click_sends_the_key(live):
    resp = send(live, openid=openid(), kind="click", key=menu.FAQ)
    assert resp.json()["reply"] == {"type": "text", "text": messages.FAQ_MENU}


def test_quick_menu_clicks_each_get_their_own_reply(live):
    # Events are deduplicated by sender + CreateTime: the simulator must not make two clicks look like a retry.
    who = openid()
    first = send(live, openid=who, kind="click", key=menu.FAQ)
    second = send(live, openid=who, kind="click", key=menu.MY_APPLICATIONS)
    assert first.json()["reply"]["text"] == messages.FAQ_MENU
    assert second.json()["reply"]["text"] == messages.MY_APPLICATIONS_EMPTY


def test_voice_carries_the_typed_text_as_recognition(live):
    resp = send(live, openid=openid(), kind="voice", content="帮助。")
    assert "申请证书" in resp.json()["reply"]["text"]


def test_view_event_is_accepted_silently(live):
    resp = send(live, openid=openid(), kind="view", key="https://www.szca.com")
    assert resp.status_code == 200 and resp.json() == {"reply": None}


def test_bad_requests_get_a_chinese_error_not_a_500(live):
    cases = [
        {"openid": "x", "kind": "text", "content": "你好"},
        {"openid": "o<script>alert(1)</script>", "kind": "text", "content": "你好"},
        {"openid": openid(), "kind": "shortvideo", "content": "x"},
        {"openid": openid(), "kind": "text", "content": "   "},
        {"openid": openid(), "kind": "text", "content": "长" * (simulator.MAX_TEXT + 1)},
    ]
    for payload in cases:
        resp = send(live, **payload)
        assert resp.status_code == 400, payload
        assert resp.json()["error"]
    resp = requests.post(f"{live.url}/simulator/api/send", data="not json", timeout=10)
    assert resp.status_code == 400


def test_photo_upload_then_image_message(live):
    photo = png()
    up = requests.post(f"{live.url}/simulator/api/upload", files={"photo": ("id.png", photo, "image/png")}, timeout=10)
    assert up.status_code == 200
    media_id = up.json()["media_id"]
    assert up.json()["url"] == f"/simulator/api/media/{media_id}"

    got = requests.get(f"{live.url}{up.json()['url']}", timeout=10)
    assert got.status_code == 200 and got.content == photo and got.headers["Content-Type"] == "image/png"

    resp = send(live, openid=openid(), kind="image", media_id=media_id)
    assert resp.status_code == 200
    assert resp.json()["reply"]["type"] == "text"


def test_upload_refuses_what_is_not_a_photo(live):
    resp = requests.post(f"{live.url}/simulator/api/upload", files={"photo": ("a.txt", b"hello", "text/plain")}, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"] == simulator.NO_IMAGE
    resp = requests.post(f"{live.url}/simulator/api/upload", timeout=10)
    assert resp.status_code == 400


def test_unknown_media_is_404(live):
    assert requests.get(f"{live.url}/simulator/api/media/nope", timeout=10).status_code == 404


def test_pushed_reads_this_users_outbox_in_order(live):
    who, other = openid(), openid()
    api = live.services.wechat
    media_id = api.media.upload("image", ("p.png", png(), "image/png"))["media_id"]
    api.message.send_text(who, "审核已通过")
    api.message.send_text(other, "不是给你的")
    api.message.send_image(who, media_id)
    api.message.send_articles(who, [{"title": "申请详情", "description": "点击查看", "url": "https://x.test/a", "image": ""}])

    resp = requests.get(f"{live.url}/simulator/api/pushed", params={"openid": who, "after": 0}, timeout=10)
    assert resp.status_code == 200
    pushed = resp.json()["messages"]
    assert [m["type"] for m in pushed] == ["text", "image", "news"]
    assert pushed[0]["text"] == "审核已通过"
    assert pushed[1]["url"] == f"/simulator/api/media/{media_id}"
    assert pushed[2]["articles"] == [{"title": "申请详情", "description": "点击查看", "url": "https://x.test/a"}]
    assert pushed[0]["id"] < pushed[1]["id"] < pushed[2]["id"]

    later = requests.get(f"{live.url}/simulator/api/pushed", params={"openid": who, "after": pushed[1]["id"]}, timeout=10)
    assert [m["type"] for m in later.json()["messages"]] == ["news"]
    assert requests.get(f"{live.url}/simulator/api/pushed", params={"openid": "x"}, timeout=10).status_code == 400


def test_template_messages_show_their_values(live):
    who = openid()
    live.services.wechat.message.send_template(
        who, "tpl-approved", {"first": {"value": "您的证书申请已通过"}, "remark": {"value": "感谢使用"}}, url="https://x.test/r",
    )
    pushed = requests.get(f"{live.url}/simulator/api/pushed", params={"openid": who}, timeout=10).json()["messages"]
    assert pushed[0]["type"] == "template"
    assert pushed[0]["text"] == "您的证书申请已通过\n感谢使用" and pushed[0]["url"] == "https://x.test/r"


def test_real_credentials_mount_neither_simulator_nor_emulator(make_live):
    real = make_live(wechat_app_secret="real-secret", secret_key="prod-signing-key")
    assert requests.get(f"{real.url}/simulator", timeout=10).status_code == 404
    assert requests.post(f"{real.url}/simulator/api/send", json={"openid": openid(), "kind": "subscribe"}, timeout=10).status_code == 404
    assert requests.get(f"{real.url}/emulator/cgi-bin/token", timeout=10).status_code == 404
    assert requests.get(f"{real.url}/emulator/_outbox", timeout=10).status_code == 404


def test_simulator_refuses_even_when_mounted_by_hand(redis_url):
    # Defence in depth: a blueprint registered by mistake on a production app still answers nothing.
    port = free_port()
    app: Flask = create_app(make_settings(redis_url, port, wechat_app_secret="real-secret", secret_key="prod-signing-key"),
                            start_jobs=False)
    app.register_blueprint(simulator.bp)
    server = LiveServer(app, port)
    try:
        for path in ("/simulator", "/simulator/api/pushed?openid=osim123456", "/simulator/api/media/x"):
            assert requests.get(f"{server.url}{path}", timeout=10).status_code == 404, path
        resp = requests.post(f"{server.url}/simulator/api/send", json={"openid": openid(), "kind": "subscribe"}, timeout=10)
        assert resp.status_code == 404
    finally:
        server.close()
