"""Forms to print over HTTP: the links in chat work for their user only, expire, can't be forged; the QR image
pushed to the chat decodes to the same link; the blank seal template is public."""

from __future__ import annotations

import io
import re
import time

import requests
import zxingcpp
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from PIL import Image

from bot.links import Links
from bot.simclient import WeChatUser
from tests.bot.test_application_http import CASES, fill
from tests.conftest import wait_for
from tests.dialogs.conftest import TYPICAL



def _submit(live, redis_client, kind: str = "org") -> tuple[WeChatUser, str]:
    user = WeChatUser(live.url)
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES[kind]})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    return user, number


def _link_text(user: WeChatUser) -> str:
    return wait_for(lambda: next((m["text"]["content"] for m in user.pushed()
                                  if "打印材料" in m.get("text", {}).get("content", "")), None))


def _media(live, media_id: str) -> bytes:
    token = requests.get(f"{live.url}/emulator/cgi-bin/token",
                         params={"appid": "wxdev0000000000000", "secret": "dev-secret"}).json()["access_token"]
    return requests.get(f"{live.url}/emulator/cgi-bin/media/get", params={"access_token": token, "media_id": media_id}).content


def test_after_confirming_the_user_gets_form_links_and_a_qr_code_of_them(live, redis_client, worker):
    user, number = _submit(live, redis_client)
    text = _link_text(user)
    form_url = re.search(r"申请表：(\S+)", text).group(1)
    seal_url = re.search(r"印模采集表：(\S+)", text).group(1)
    pdf = requests.get(form_url)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF") and "no-store" in pdf.headers["Cache-Control"]
    assert requests.get(seal_url).content.startswith(b"%PDF")

    image = wait_for(lambda: next((m for m in user.pushed() if m.get("msgtype") == "image"), None))
    assert decode_qr(_media(live, image["image"]["media_id"])) == form_url


def decode_qr(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    return results[0].text if results else ""


def test_typing_print_gets_fresh_links(live, redis_client, user):
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES["org"]})
    user.text("确认")
    assert "/forms/application/" in user.text("打印").text


def test_a_forged_link_shows_a_clear_page_and_no_data(live, redis_client):
    _, number = _submit(live, redis_client, "person")
    forged = Links("not-our-secret", live.url).url("form", "o-someone", number, "/forms/application")
    resp = requests.get(forged)
    assert resp.status_code == 403 and "链接无效" in resp.text and number not in resp.text
    tampered = requests.get(f"{live.url}/forms/application/eyJvIjoiYSJ9.tampered.sig")
    assert tampered.status_code == 403 and "%PDF" not in tampered.text


def test_a_link_for_another_users_application_is_refused(live, redis_client):
    owner, number = _submit(live, redis_client, "person")
    # Genuinely signed, but for someone else: the record's owner must match the link's user.
    other = live.services.links.url("form", "o-intruder", number, "/forms/application")
    resp = requests.get(other)
    assert resp.status_code == 403 and "%PDF" not in resp.text


def test_an_expired_link_says_so(live, redis_client):
    owner, number = _submit(live, redis_client, "person")

    class EightDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 8 * 24 * 3600

    token = URLSafeTimedSerializer(live.services.settings.signing_key, salt="szca-link:form",
                                   signer=EightDaysAgo).dumps({"o": owner.openid, "n": number})
    resp = requests.get(f"{live.url}/forms/application/{token}")
    assert resp.status_code == 410 and "链接已过期" in resp.text


def test_a_form_link_cannot_be_used_as_a_seal_link(live, redis_client):
    owner, number = _submit(live, redis_client, "person")
    token = live.services.links.token("form", owner.openid, number)
    assert requests.get(f"{live.url}/forms/seal/{token}").status_code == 403


def test_the_blank_seal_template_is_public(live):
    resp = requests.get(f"{live.url}/forms/seal-template.pdf")
    assert resp.status_code == 200 and resp.content.startswith(b"%PDF")
