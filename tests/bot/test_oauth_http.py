"""Production mode: inside WeChat's browser a mobile link opens only for the WeChat user it was sent to,
proved by OAuth snsapi_base (the emulator plays WeChat's authorize page and token endpoint)."""

from __future__ import annotations

import io
import re
from datetime import datetime

import requests
from PIL import Image

from bot import documents, steps
from bot.simclient import WeChatUser
from bot.uploads import inspect
from tests.bot.test_application_http import CASES, fill
from tests.dialogs.conftest import TYPICAL

WECHAT_UA = {"User-Agent": "Mozilla/5.0 (iPhone) AppleWebKit MicroMessenger/8.0.50"}


def _identity_step(live, redis_client) -> tuple[str, str]:
    user = WeChatUser(live.url)
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES["org"]})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    svc = live.services
    record = svc.store.record(number)
    for doc in documents.required(record):
        buf = io.BytesIO()
        Image.new("RGB", (64, 64)).save(buf, "JPEG")
        record, _ = documents.accept(svc.store, svc.files, number, doc, buf.getvalue(), inspect(buf.getvalue()),
                                     datetime.now(), 30)
    steps.documents_complete(svc, record, datetime.now())
    return user.openid, number


def _production(make_live, live):
    return make_live(wechat_app_secret="real-secret", secret_key="prod-signing-key",
                     wechat_api_base_url=f"{live.url}/emulator/cgi-bin/", wechat_oauth_url=f"{live.url}/emulator/connect/")


def _open_in_wechat(url: str, as_openid: str) -> requests.Response:
    http = requests.Session()
    http.cookies.set("emu_openid", as_openid)  # who WeChat's browser says is looking
    return http.get(url, headers=WECHAT_UA)


def test_the_owner_passes_oauth_and_sees_the_page(make_live, live, redis_client):
    owner, number = _identity_step(live, redis_client)
    prod = _production(make_live, live)
    url = prod.services.links.url("identity", owner, number, "/m/identity")
    first = requests.get(url, headers=WECHAT_UA, allow_redirects=False)
    assert first.status_code == 302 and "/connect/oauth2/authorize" in first.headers["Location"]
    assert "snsapi_base" in first.headers["Location"]
    page = _open_in_wechat(url, owner)
    assert page.status_code == 200 and "身份认证" in page.text


def test_a_forwarded_link_opened_by_another_user_shows_nothing(make_live, live, redis_client):
    owner, number = _identity_step(live, redis_client)
    prod = _production(make_live, live)
    url = prod.services.links.url("identity", owner, number, "/m/identity")
    page = _open_in_wechat(url, "o-colleague-who-got-the-link")
    assert page.status_code == 403 and "另一位用户" in page.text
    assert TYPICAL["handler.name"][1:] not in page.text and number not in page.text


def test_a_forged_oauth_callback_is_refused(make_live, live):
    prod = _production(make_live, live)
    resp = requests.get(f"{prod.url}/m/oauth", params={"code": "x", "state": "y"})
    assert resp.status_code == 403
