"""Payment over HTTP: the choice in chat, the itemised pay page, the sandbox's signed notification, duplicate
and forged notices, a wrong amount, corporate transfer with its voucher, and the random code with lock-out."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import datetime

import pytest
import requests
from PIL import Image

from bot import documents, steps
from bot.providers.pay import Checkout
from bot.simclient import WeChatUser
from bot.uploads import inspect
from tests.bot.test_application_http import fill
from tests.bot.test_printables_http import decode_qr
from tests.conftest import upload_media, wait_for
from tests.dialogs.conftest import TYPICAL

DESKTOP = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) Chrome/120"}


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (seed * 50 % 255, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def at_payment_step(live, redis_client, platform: str = "深圳公共资源交易平台", cert_type: str = "机构证书"):
    user = WeChatUser(live.url)
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, "platform": platform, "cert_type": cert_type})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    svc = live.services
    record = svc.store.record(number)
    for i, doc in enumerate(documents.required(record)):
        data = _jpeg(i)
        record, _ = documents.accept(svc.store, svc.files, number, doc, data, inspect(data), datetime.now(), 30)
    steps.documents_complete(svc, record, datetime.now())
    steps.identity_passed(svc, svc.store.record(number), datetime.now())
    assert svc.store.record(number).status == "payment"
    return user, number


def _texts(user: WeChatUser) -> str:
    return "\n".join(m.get("text", {}).get("content", "") for m in user.pushed())


def _pay_in_sandbox(live, user: WeChatUser) -> str:
    """Choose online payment in chat, open the pay page as on a PC, confirm in the sandbox; returns its text."""
    chosen = user.text("1").text
    url = re.search(r"(http\S+/m/pay/\S+)", chosen).group(1)
    page = requests.get(url, headers=DESKTOP)
    assert page.status_code == 200 and "合计" in page.text
    sandbox = re.search(r'href="([^"]+/sandbox/pay/[^"]+)"', page.text).group(1)
    done = requests.post(sandbox, data={"action": "confirm"})
    assert done.status_code == 200, done.text
    return page.text


def test_online_payment_moves_to_financial_authentication_and_tells_the_chat(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    page = _pay_in_sandbox(live, user)
    assert "机构证书 3年" in page and "¥1,300.00" in page  # itemised from the catalogue
    record = live.services.store.record(number)
    assert record.status == "financial_auth" and record.data["payment"]["paid_fen"] == 130000
    assert "支付成功" in wait_for(lambda: _texts(user) if "支付成功" in _texts(user) else None)


def _notice(live, number: str, **changes) -> str:
    pay = live.services.pay
    order = steps.order(live.services.store.record(number))
    return pay.notice_xml(Checkout(replace(order, **changes), f"{live.url}/pay/notify", "JSAPI"))


def test_the_same_notice_twice_pays_once(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    xml = _notice(live, number)
    first = requests.post(f"{live.url}/pay/notify", data=xml.encode())
    again = requests.post(f"{live.url}/pay/notify", data=xml.encode())
    assert first.status_code == again.status_code == 200 and "SUCCESS" in again.text
    record = live.services.store.record(number)
    assert [h.status for h in record.history].count("financial_auth") == 1
    wait_for(lambda: "支付成功" in _texts(user))
    assert _texts(user).count("支付成功") == 1


def test_a_forged_notice_is_refused_and_changes_nothing(live, redis_client):
    _, number = at_payment_step(live, redis_client)
    xml = _notice(live, number)
    forged = re.sub(r"<sign><!\[CDATA\[\w+\]\]></sign>", "<sign><![CDATA[" + "0" * 32 + "]]></sign>", xml)
    assert forged != xml
    resp = requests.post(f"{live.url}/pay/notify", data=forged.encode())
    assert resp.status_code == 400 and "FAIL" in resp.text
    hostile = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>'
    assert requests.post(f"{live.url}/pay/notify", data=hostile.encode()).status_code == 400
    assert live.services.store.record(number).status == "payment"


def test_a_notice_with_the_wrong_amount_is_refused(live, redis_client):
    _, number = at_payment_step(live, redis_client)
    resp = requests.post(f"{live.url}/pay/notify", data=_notice(live, number, total_fen=1).encode())
    assert resp.status_code == 400
    assert live.services.store.record(number).status == "payment"


def test_the_native_qr_code_for_a_pc(live, redis_client):
    user, number = at_payment_step(live, redis_client)
    url = live.services.links.url("pay", user.openid, number, "/m/pay")
    png = requests.get(f"{url}/qr.png")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    decoded = decode_qr(png.content)
    assert "/sandbox/pay/" in decoded  # the sandbox's code_url; WeChat Pay's weixin:// URL in production


def test_corporate_transfer_shows_the_account_and_takes_the_voucher(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    details = user.text("2").text
    assert "户名" in details and number in details and "¥1,300.00" in details
    user.image(upload_media(live.url, _jpeg(9)))
    wait_for(lambda: "转账凭证已收到" in _texts(user))
    payment = live.services.store.record(number).data["payment"]
    assert payment["method"] == "transfer" and live.services.files.get(payment["voucher"])


def test_the_random_code_platform_asks_for_the_code_and_locks_after_five_wrong(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client, platform="深圳广电采购")
    _pay_in_sandbox(live, user)
    assert live.services.store.record(number).status == "code"
    code = re.search(r"深圳CA随机码 (\d{6})", wait_for(lambda: _texts(user) if "开发环境模拟" in _texts(user) else None)).group(1)
    assert "code" in live.services.store.record(number).data and code not in str(live.services.store.record(number).data)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert f"还可尝试{left}次" in user.text(f"随机码 {wrong}").text
    assert "锁定" in user.text(wrong).text
    assert "锁定" in user.text(f"随机码 {code}").text  # locked: even the right code waits for a human
    assert live.services.store.record(number).status == "code"


def test_the_right_random_code_moves_to_review(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client, platform="深圳广电采购")
    _pay_in_sandbox(live, user)
    code = re.search(r"深圳CA随机码 (\d{6})", wait_for(lambda: _texts(user) if "开发环境模拟" in _texts(user) else None)).group(1)
    assert "验证通过" in user.text(code).text
    assert live.services.store.record(number).status == "review"


def test_the_pay_page_before_the_payment_step_says_what_to_do_first(live, redis_client):
    user = WeChatUser(live.url)
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, "platform": "深圳公共资源交易平台", "cert_type": "机构证书"})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    url = live.services.links.url("pay", user.openid, number, "/m/pay")
    assert "请先完成前面的步骤" in requests.get(url).text


def test_the_order_is_prepared_once_however_often_the_page_is_opened(live, redis_client, monkeypatch):
    user, number = at_payment_step(live, redis_client)
    calls = []
    original = type(live.services.pay).native_code_url

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(live.services.pay), "native_code_url", counting)
    url = live.services.links.url("pay", user.openid, number, "/m/pay")
    for _ in range(3):
        assert requests.get(url, headers=DESKTOP).status_code == 200
        assert requests.get(f"{url}/qr.png").status_code == 200
    assert len(calls) == 1
