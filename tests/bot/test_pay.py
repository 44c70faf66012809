"""WeChat Pay through wechatpy against a local fake that checks the v2 MD5 signature, the notification checks,
and the sandbox pay page posting its notice over HTTP."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import cv2
import numpy as np
import pytest
import requests
from defusedxml.ElementTree import fromstring
from flask import Flask, Response, request

from bot import jobs
from bot.config import Settings
from bot.providers import pay as pay_mod
from bot.providers.pay import (SANDBOX_URL, InvalidNotice, Order, PayError, PaymentNotice, SandboxPay,
                               UnavailablePay, WeChatPayProvider, alipay_link, make_pay, sandbox_pay)
from tests.support.servers import LiveServer, free_port

APP_ID = "wx1234567890abcdef"
MCH_ID = "1900000109"
API_KEY = "192006250b4c09247ec02edce69f6a2d"
DATA = Path(__file__).parent.parent / "data"
ORDER = Order(out_trade_no="SZCA20261124001", total_fen=30000, description="深圳CA数字证书-机构证书",
              openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
NOTIFY_URL = "https://bot.example.com/pay/notify"


def v2_sign(params: dict[str, Any], key: str) -> str:
    """WeChat Pay v2, written out independently of wechatpy: non-empty params sorted, &key=, MD5, upper case."""
    text = "&".join(f"{k}={params[k]}" for k in sorted(params) if params[k] not in ("", None) and k != "sign")
    return hashlib.md5(f"{text}&key={key}".encode()).hexdigest().upper()


def to_xml(params: dict[str, Any]) -> bytes:
    return ("<xml>" + "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in params.items()) + "</xml>").encode()


def from_xml(body: bytes) -> dict[str, str]:
    return {child.tag: child.text or "" for child in fromstring(body, forbid_dtd=True)}


class FakeWeChatPay:
    """pay/unifiedorder on 127.0.0.1: refuses a bad signature like WeChat, answers as `mode` says."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.requests: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                fake.requests.append(params := from_xml(body))
                status, reply = fake.answer(self.path, params)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/xml")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up first: what the timeout case is about

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path: str, params: dict[str, str]) -> tuple[int, bytes]:
        if path != "/pay/unifiedorder":
            return 404, b"not found"
        if params.get("sign") != v2_sign(params, API_KEY):
            return 200, to_xml({"return_code": "FAIL", "return_msg": "签名错误"})
        if self.mode == "slow":
            time.sleep(2)
        if self.mode == "http500":
            return 500, b"server error"
        if self.mode == "return_fail":
            return 200, to_xml({"return_code": "FAIL", "return_msg": "mch_id参数格式错误"})
        reply: dict[str, Any] = {"return_code": "SUCCESS", "return_msg": "OK", "appid": APP_ID, "mch_id": MCH_ID,
                                 "nonce_str": "IITRi8Iabbblz1Jc", "result_code": "SUCCESS"}
        if self.mode == "orderpaid":
            reply |= {"result_code": "FAIL", "err_code": "ORDERPAID", "err_code_des": "该订单已支付"}
        else:
            reply |= {"trade_type": params["trade_type"], "prepay_id": "wx201411101639507cbf6ffd8b0779950874"}
            if params["trade_type"] == "NATIVE":
                reply["code_url"] = "weixin://wxpay/bizpayurl?pr=Pzb4Kyq"
        reply["sign"] = "0" * 32 if self.mode == "badsign" else v2_sign(reply, API_KEY)
        return 200, to_xml(reply)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWeChatPay]:
    server = FakeWeChatPay()
    yield server
    server.close()


@pytest.fixture
def provider(fake: FakeWeChatPay) -> Iterator[WeChatPayProvider]:
    fake.mode = "ok"
    fake.requests.clear()
    yield WeChatPayProvider(APP_ID, MCH_ID, API_KEY, base_url=fake.url, timeout=(0.5, 0.5))


# -- ordering --------------------------------------------------------------------------------------------
def test_jsapi_params_are_signed_for_the_bridge(provider: WeChatPayProvider, fake: FakeWeChatPay) -> None:
    params = provider.jsapi_params(ORDER, NOTIFY_URL, "203.0.113.7")

    sent = fake.requests[-1]
    assert sent["trade_type"] == "JSAPI" and sent["openid"] == ORDER.openid
    assert (sent["out_trade_no"], sent["total_fee"], sent["notify_url"]) == (ORDER.out_trade_no, "30000", NOTIFY_URL)
    assert sent["spbill_create_ip"] == "203.0.113.7" and sent["body"] == ORDER.description
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == APP_ID and params["signType"] == "MD5"
    assert params["package"] == "prepay_id=wx201411101639507cbf6ffd8b0779950874"
    assert params["paySign"] == v2_sign({k: v for k, v in params.items() if k != "paySign"}, API_KEY)


def test_native_code_url_renders_as_a_scannable_qr(provider: WeChatPayProvider, fake: FakeWeChatPay) -> None:
    code_url = provider.native_code_url(ORDER, NOTIFY_URL, "127.0.0.1")

    assert code_url == "weixin://wxpay/bizpayurl?pr=Pzb4Kyq"
    sent = fake.requests[-1]
    assert sent["trade_type"] == "NATIVE" and sent["product_id"] == ORDER.out_trade_no and "openid" not in sent
    png = np.frombuffer(jobs.qr_png(code_url), dtype=np.uint8)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(cv2.imdecode(png, cv2.IMREAD_GRAYSCALE))
    assert decoded == code_url


def test_long_description_is_cut_to_wechats_128_bytes(provider: WeChatPayProvider, fake: FakeWeChatPay) -> None:
    provider.native_code_url(Order("N1", 1, "数字证书" * 40, "o"), NOTIFY_URL, "127.0.0.1")

    body = fake.requests[-1]["body"]
    assert len(body.encode()) <= 128 and body.startswith("数字证书")


@pytest.mark.parametrize(("mode", "code", "says"), [
    ("orderpaid", "ORDERPAID", "已经支付过"),
    ("return_fail", None, "下单未成功"),
    ("http500", None, "暂时不可用"),
    ("badsign", None, "暂时不可用"),
    ("slow", None, "暂时不可用"),
])
def test_refusals_and_outages_are_pay_errors_in_chinese(provider: WeChatPayProvider, fake: FakeWeChatPay,
                                                        mode: str, code: str | None, says: str) -> None:
    fake.mode = mode
    started = time.monotonic()
    with pytest.raises(PayError) as caught:
        provider.jsapi_params(ORDER, NOTIFY_URL, "127.0.0.1")

    assert time.monotonic() - started < 1.5
    assert caught.value.code == code and says in caught.value.user_message
    assert "公对公" in caught.value.user_message or code == "ORDERPAID"


def test_unreachable_service_is_a_pay_error() -> None:
    dead = WeChatPayProvider(APP_ID, MCH_ID, API_KEY, base_url=f"http://127.0.0.1:{free_port()}/", timeout=0.5)
    with pytest.raises(PayError) as caught:
        dead.native_code_url(ORDER, NOTIFY_URL, "127.0.0.1")
    assert "暂时不可用" in caught.value.user_message


# -- notifications ---------------------------------------------------------------------------------------
def notice(key: str = API_KEY, sign: bool = True, **changes: Any) -> bytes:
    """A payment-result notification as WeChat Pay v2 sends it."""
    params: dict[str, Any] = {
        "appid": APP_ID, "bank_type": "CFT", "cash_fee": 30000, "fee_type": "CNY", "is_subscribe": "Y",
        "mch_id": MCH_ID, "nonce_str": "5d2b6c2a8db53831f7eda20af46e531c", "openid": ORDER.openid,
        "out_trade_no": ORDER.out_trade_no, "result_code": "SUCCESS", "return_code": "SUCCESS",
        "time_end": "20261124210000", "total_fee": 30000, "trade_type": "JSAPI",
        "transaction_id": "4200001234202611240123456789",
    } | changes
    if sign:
        params["sign"] = v2_sign(params, key)
    return to_xml(params)


def test_genuine_notice_parses(provider: WeChatPayProvider) -> None:
    assert provider.parse_notice(notice()) == PaymentNotice(ORDER.out_trade_no, "4200001234202611240123456789",
                                                            30000, ORDER.openid)


def test_duplicate_notice_parses_to_the_same_payment(provider: WeChatPayProvider) -> None:
    # WeChat repeats a notice until acknowledged: the caller applies a transaction_id once, so both must match.
    assert provider.parse_notice(notice()) == provider.parse_notice(notice(nonce_str="another-nonce"))


def test_wrong_amount_is_reported_as_paid_not_as_ordered(provider: WeChatPayProvider) -> None:
    # Signed and genuine, but for 1 fen: parse_notice hands back what was paid, the caller compares with its order.
    paid = provider.parse_notice(notice(total_fee=1, cash_fee=1))
    assert paid.total_fen == 1 and paid.total_fen != ORDER.total_fen


@pytest.mark.parametrize("body", [
    pytest.param(notice()[:-6] + b"<extra>x</extra></xml>", id="changed-after-signing"),
    pytest.param(notice(total_fee=1) .replace(b"<total_fee>1<", b"<total_fee>30000<"), id="amount-raised"),
    pytest.param(notice(key="0" * 32), id="signed-with-another-key"),
    pytest.param(notice(sign=False), id="unsigned"),
    pytest.param(notice(appid="wxothermerchantapp"), id="other-appid"),
    pytest.param(notice(mch_id="1900000999"), id="other-mch_id"),
    pytest.param(notice(result_code="FAIL", err_code="SYSTEMERROR"), id="result-fail"),
    pytest.param(notice(return_code="FAIL"), id="return-fail"),
    pytest.param(notice(fee_type="USD"), id="other-currency"),
    pytest.param(notice(total_fee="abc"), id="amount-not-a-number"),
    pytest.param(notice(transaction_id=""), id="no-transaction-id"),
    pytest.param(b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "SZCA20261124001">]>'
                 + notice(), id="doctype-before-a-genuine-notice"),
    pytest.param((DATA / "billion_laughs.xml").read_bytes(), id="billion-laughs"),
    pytest.param((DATA / "external_entity.xml").read_bytes(), id="external-entity"),
    pytest.param(b"not xml at all", id="garbage"),
    pytest.param(b"", id="empty"),
    pytest.param(b"<xml></xml>", id="empty-root"),
    pytest.param(b"<xml>text only</xml>", id="text-root"),
    pytest.param(b"<notxml><a>1</a></notxml>", id="other-root"),
    pytest.param("<xml><a>\u00e9</a></xml>".encode("latin-1"), id="not-utf8"),
])
def test_forged_or_garbled_notice_is_refused(provider: WeChatPayProvider, body: bytes) -> None:
    with pytest.raises(InvalidNotice):
        provider.parse_notice(body)


def test_notice_reply_is_the_xml_wechat_expects(provider: WeChatPayProvider) -> None:
    ok = from_xml(provider.notice_reply(True).encode())
    refused = from_xml(provider.notice_reply(False, "bad ]]> sign").encode())

    assert ok == {"return_code": "SUCCESS", "return_msg": "OK"}
    assert refused == {"return_code": "FAIL", "return_msg": "bad  sign"}
    assert from_xml(UnavailablePay().notice_reply(True).encode()) == ok


# -- choosing a provider, orders, Alipay -----------------------------------------------------------------
def test_make_pay_follows_the_settings() -> None:
    real = Settings(wechat_app_secret="real-secret", secret_key="k" * 32)
    assert isinstance(make_pay(Settings(wechat_pay_mch_id=MCH_ID, wechat_pay_api_key=API_KEY)), WeChatPayProvider)
    assert isinstance(make_pay(Settings()), SandboxPay)
    # Real credentials without a merchant account: refused outright, never the fake page.
    unavailable = make_pay(real)
    assert isinstance(unavailable, UnavailablePay)
    with pytest.raises(PayError) as caught:
        unavailable.jsapi_params(ORDER, NOTIFY_URL, "127.0.0.1")
    assert "公对公" in caught.value.user_message
    with pytest.raises(InvalidNotice):
        unavailable.parse_notice(notice())


@pytest.mark.parametrize("fields", [("", 1), ("有中文", 1), ("x" * 33, 1), ("N1", 0), ("N1", -5), ("N1", 1.5),
                                    ("N1", True)])
def test_orders_wechat_would_refuse_are_not_built(fields: tuple[str, Any]) -> None:
    with pytest.raises(ValueError):
        Order(fields[0], fields[1], "证书", "o")


def test_alipay_link_only_where_configured() -> None:
    assert alipay_link(Settings(), ORDER) is None
    link = alipay_link(Settings(alipay_link_base="https://pay.example.com/alipay?src=bot"), ORDER)
    assert link is not None and link.startswith("https://pay.example.com/alipay?src=bot&")
    assert "out_trade_no=SZCA20261124001" in link and "total_amount=300.00" in link
    assert "total_amount=0.05" in (alipay_link(Settings(alipay_link_base="https://a.example/p"),
                                               Order("N2", 5, "证书", "o")) or "")


# -- the sandbox pay page, over HTTP ---------------------------------------------------------------------
class SandboxSite:
    """The sandbox blueprint plus a notify endpoint that verifies and records notices, on a real socket."""

    def __init__(self) -> None:
        self.received: list[PaymentNotice] = []
        self.acknowledge = True
        port = free_port()
        # The page's links are built from PUBLIC_BASE_URL, so it must name the port the server listens on.
        self.settings = settings = Settings(public_base_url=f"http://127.0.0.1:{port}")
        app = Flask(__name__)
        app.extensions["szca"] = {"services": type("Services", (), {"settings": settings})()}
        from bot import sandbox_pay as sandbox_pages

        app.register_blueprint(sandbox_pages.bp)
        pay = make_pay(settings)

        @app.post("/pay/notify")
        def notify() -> Response:
            try:
                self.received.append(pay.parse_notice(request.get_data()))
            except InvalidNotice:
                return Response(pay.notice_reply(False, "invalid"), status=400, mimetype="application/xml")
            return Response(pay.notice_reply(self.acknowledge), mimetype="application/xml")

        self.live = LiveServer(app, port)
        self.pay = pay


@pytest.fixture(scope="module")
def site() -> Iterator[SandboxSite]:
    server = SandboxSite()
    yield server
    server.live.close()


@pytest.fixture
def sandbox(site: SandboxSite) -> SandboxSite:
    site.received.clear()
    site.acknowledge = True
    return site


def checkout(site: SandboxSite, order: Order = ORDER) -> str:
    url = site.pay.checkout_url(order, f"{site.live.url}/pay/notify")
    assert url is not None
    return url


def test_sandbox_round_trip_pays_through_the_notify_endpoint(sandbox: SandboxSite) -> None:
    url = checkout(sandbox)
    page = requests.get(url, timeout=5)
    assert page.status_code == 200
    assert "¥300.00" in page.text and ORDER.description in page.text and "确认支付" in page.text and "取消" in page.text

    done = requests.post(url, data={"action": "confirm"}, timeout=10)

    assert done.status_code == 200 and "支付成功" in done.text and 'href="/simulator"' in done.text
    [paid] = sandbox.received
    assert (paid.out_trade_no, paid.total_fen, paid.openid) == (ORDER.out_trade_no, ORDER.total_fen, ORDER.openid)


def test_sandbox_confirming_twice_repeats_the_same_notice(sandbox: SandboxSite) -> None:
    url = checkout(sandbox)
    for _ in range(2):
        assert requests.post(url, data={"action": "confirm"}, timeout=10).status_code == 200
    first, second = sandbox.received
    assert first == second


def test_sandbox_notice_is_signed_like_wechats(sandbox: SandboxSite) -> None:
    pay = sandbox.pay
    assert isinstance(pay, SandboxPay)
    body = pay.notice_xml(pay.read(checkout(sandbox).rsplit("/", 1)[1])).encode()
    fields = from_xml(body)
    key = pay._client.api_key  # noqa: SLF001 - the derived sandbox key, to check the signature independently
    assert fields["sign"] == v2_sign(fields, key) and fields["mch_id"] == pay_mod.SANDBOX_MCH_ID
    # The real provider's key does not verify it, and the sandbox does not accept WeChat's.
    real = WeChatPayProvider(sandbox.settings.wechat_app_id, pay_mod.SANDBOX_MCH_ID, API_KEY)
    with pytest.raises(InvalidNotice):
        real.parse_notice(body)
    with pytest.raises(InvalidNotice):
        pay.parse_notice(notice(appid=sandbox.settings.wechat_app_id, mch_id=pay_mod.SANDBOX_MCH_ID))


def test_sandbox_interface_points_both_flows_at_its_page(sandbox: SandboxSite) -> None:
    params = sandbox.pay.jsapi_params(ORDER, "http://x/pay/notify", "127.0.0.1")
    assert set(params) == {SANDBOX_URL} and "/sandbox/pay/" in params[SANDBOX_URL]
    assert "/sandbox/pay/" in sandbox.pay.native_code_url(ORDER, "http://x/pay/notify", "127.0.0.1")
    assert WeChatPayProvider(APP_ID, MCH_ID, API_KEY).checkout_url(ORDER, NOTIFY_URL) is None


def test_sandbox_cancel_pays_nothing(sandbox: SandboxSite) -> None:
    done = requests.post(checkout(sandbox), data={"action": "cancel"}, timeout=5)
    assert done.status_code == 200 and "已取消支付" in done.text
    assert sandbox.received == []


def test_sandbox_shows_when_the_notice_is_not_acknowledged(sandbox: SandboxSite) -> None:
    sandbox.acknowledge = False
    done = requests.post(checkout(sandbox), data={"action": "confirm"}, timeout=10)
    assert done.status_code == 502 and "支付结果通知失败" in done.text and "支付成功" not in done.text


@pytest.mark.parametrize("method", ["get", "post"])
def test_tampered_sandbox_token_is_refused(sandbox: SandboxSite, method: str) -> None:
    url = checkout(sandbox)
    head, token = url.rsplit("/", 1)
    forged = f"{head}/{token[:10]}{'A' if token[10] != 'A' else 'B'}{token[11:]}"
    other_key = SandboxPay("another-secret", sandbox.live.url, APP_ID).checkout_url(ORDER, "http://x/pay/notify")

    for bad in (forged, other_key or "", f"{head}/x"):
        resp = getattr(requests, method)(bad, data={"action": "confirm"}, timeout=5)
        assert resp.status_code == 403 and "支付链接无效" in resp.text
    assert sandbox.received == []


def test_expired_sandbox_token_is_refused(sandbox: SandboxSite, monkeypatch: pytest.MonkeyPatch) -> None:
    url = checkout(sandbox)
    monkeypatch.setattr(pay_mod, "SANDBOX_TTL_S", -1)
    resp = requests.get(url, timeout=5)
    assert resp.status_code == 410 and "已过期" in resp.text


def test_sandbox_page_is_not_served_with_real_credentials() -> None:
    real = Settings(wechat_app_secret="real-secret", secret_key="k" * 32)
    app = Flask(__name__)
    app.extensions["szca"] = {"services": type("Services", (), {"settings": real})()}
    from bot import sandbox_pay as sandbox_pages

    app.register_blueprint(sandbox_pages.bp)
    token = sandbox_pay(Settings(secret_key="k" * 32)).checkout_url(ORDER, NOTIFY_URL) or ""
    assert app.test_client().get(f"/sandbox/pay/{token.rsplit('/', 1)[1]}").status_code == 404
