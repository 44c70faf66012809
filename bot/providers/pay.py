"""Online payment: WeChat Pay (API v2 through wechatpy) or the sandbox pay page of the embedded default."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

import requests
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from wechatpy.exceptions import InvalidSignatureException, WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import calculate_signature, dict_to_xml
from wechatpy.utils import random_string

from bot.links import LinkError
from bot.wechat import CallbackError, safe_xml

if TYPE_CHECKING:
    from bot.config import Settings


# What the user is told; both point at the other way the hall accepts, a corporate transfer.
UNAVAILABLE_MESSAGE = "微信支付暂时不可用，请稍后再试，或选择公对公转账汇款。"
REFUSED_MESSAGE = "微信支付下单未成功，请稍后再试，或选择公对公转账汇款。"
NOT_OPEN_MESSAGE = "在线支付暂未开通，请选择公对公转账汇款。"
# WeChat's err_code for unifiedorder where the user can do something about it.
REFUSAL_MESSAGES = {
    "ORDERPAID": "这笔订单已经支付过了，无需重复付款，请返回微信查看进度。",
    "ORDERCLOSED": "这笔订单已关闭，请返回微信重新发起支付。",
    "OUT_TRADE_NO_USED": "这笔订单已在另一处发起支付，请在原页面完成支付，或返回微信重新获取支付链接。",
}

# WeChat Pay's own limits: out_trade_no is up to 32 of these characters, body up to 128 bytes.
_OUT_TRADE_NO = re.compile(r"^[A-Za-z0-9_\-|*@]{1,32}$")
BODY_MAX_BYTES = 128
# WeChat gives up on a notify after 5 s, and a user waits for the page: fail fast, keep read time for WeChat.
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 6.0

# The key in jsapi_params that means "no WeixinJSBridge: open this page of ours to pay" (the sandbox).
SANDBOX_URL = "sandboxUrl"
SANDBOX_MCH_ID = "sandbox"
# Like WeChat's own time_expire default: a pay page is good for two hours.
SANDBOX_TTL_S = 2 * 3600


@dataclass(frozen=True)
class Order:
    out_trade_no: str
    total_fen: int
    description: str
    openid: str

    def __post_init__(self) -> None:
        # Programming errors, not user input: an order that WeChat would refuse should never be built.
        if not _OUT_TRADE_NO.match(self.out_trade_no):
            raise ValueError(f"out_trade_no must be 1-32 of [A-Za-z0-9_-|*@]: {self.out_trade_no!r}")
        if isinstance(self.total_fen, bool) or not isinstance(self.total_fen, int) or self.total_fen <= 0:
            raise ValueError(f"total_fen must be a positive int: {self.total_fen!r}")


@dataclass(frozen=True)
class PaymentNotice:
    out_trade_no: str
    transaction_id: str
    total_fen: int
    openid: str | None


class PayError(Exception):
    """The provider could not take the order; `user_message` is the Chinese text for the page or chat,
    str(exc) the detail for logs, `code` WeChat's err_code when it gave one."""

    def __init__(self, detail: str, user_message: str = UNAVAILABLE_MESSAGE, code: str | None = None) -> None:
        super().__init__(detail)
        self.user_message = user_message
        self.code = code


class InvalidNotice(Exception):
    """A payment notification we must not act on: forged, garbled, for another merchant, or not a success."""


class Pay(Protocol):
    def jsapi_params(self, order: Order, notify_url: str, client_ip: str) -> dict[str, str]:
        """Inside WeChat: the signed arguments of WeixinJSBridge 'getBrandWCPayRequest' (appId, timeStamp,
        nonceStr, package, signType, paySign). A dict holding SANDBOX_URL instead means: open that page."""
        ...

    def native_code_url(self, order: Order, notify_url: str, client_ip: str) -> str:
        """On a PC: the text of the QR code the user scans with WeChat (the sandbox: its page's URL)."""
        ...

    def checkout_url(self, order: Order, notify_url: str) -> str | None:
        """A page of ours where the order is paid (the sandbox), or None when the payment happens in WeChat."""
        ...

    def parse_notice(self, body: bytes) -> PaymentNotice:
        """A verified payment notification, or InvalidNotice. The amount is NOT checked here: compare total_fen
        with your own order, and apply a transaction_id once (WeChat repeats a notice until acknowledged)."""
        ...

    def notice_reply(self, ok: bool, message: str = "OK") -> str:
        """The XML answer to a notification. ok=False makes WeChat resend it for up to a day."""
        ...


class _PayV2Notices:
    """The notification side both providers share: WeChat Pay v2's signed XML, checked by wechatpy against
    this provider's key, appid and mch_id, so the sandbox's notices take exactly the production path."""

    def __init__(self, client: WeChatPay) -> None:
        self._client = client

    def parse_notice(self, body: bytes) -> PaymentNotice:
        try:
            # wechatpy parses with xmltodict, which expands entities: hostile XML stops here first.
            text = safe_xml(body)
        except CallbackError as exc:
            raise InvalidNotice(exc.reason) from None
        try:
            data = self._client.parse_payment_result(text)
        except InvalidSignatureException:
            raise InvalidNotice("bad or missing signature") from None
        except AttributeError:
            # wechatpy assumes <xml> has children: an empty or text-only root fails inside it.
            raise InvalidNotice("no fields") from None
        except (ValueError, TypeError):
            raise InvalidNotice("signed notice with an amount that is not a number") from None
        if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
            raise InvalidNotice(f"not a success: {data.get('return_code')}/{data.get('result_code')}")
        # A notice signed with our key but for another account must not pay our order.
        if data.get("appid") != self._client.appid or data.get("mch_id") != self._client.mch_id:
            raise InvalidNotice("notice for another appid or mch_id")
        if data.get("fee_type", "CNY") != "CNY":
            raise InvalidNotice(f"currency {data.get('fee_type')}")
        fields = {k: data.get(k) for k in ("out_trade_no", "transaction_id")}
        if not all(isinstance(v, str) and v for v in fields.values()):
            raise InvalidNotice("out_trade_no or transaction_id missing")
        total = data.get("total_fee")
        if not isinstance(total, int) or total <= 0:
            raise InvalidNotice("total_fee missing")
        openid = data.get("openid")
        return PaymentNotice(fields["out_trade_no"], fields["transaction_id"], total,
                             openid if isinstance(openid, str) and openid else None)

    def notice_reply(self, ok: bool, message: str = "OK") -> str:
        return _notice_reply(ok, message)


def _notice_reply(ok: bool, message: str) -> str:
    # The message goes inside CDATA: a "]]>" in it would end the section early.
    return dict_to_xml({"return_code": "SUCCESS" if ok else "FAIL", "return_msg": message.replace("]]>", "")})


def _body(description: str) -> str:
    """The description cut to WeChat's 128 bytes of UTF-8 without splitting a character."""
    return description.encode("utf-8")[:BODY_MAX_BYTES].decode("utf-8", errors="ignore")


class WeChatPayProvider(_PayV2Notices):
    """WeChat Pay API v2 (MD5 signatures) through wechatpy; the base URL is overridable for a gateway or a fake."""

    def __init__(self, app_id: str, mch_id: str, api_key: str, base_url: str | None = None,
                 timeout: float | tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)) -> None:
        # sandbox=False: WeChat's "sandboxnew" is a signing-key test mode, unrelated to our sandbox page.
        super().__init__(WeChatPay(app_id, api_key, mch_id, timeout=timeout))
        if base_url:
            self._client.API_BASE_URL = base_url.rstrip("/") + "/"

    def _unified_order(self, order: Order, trade_type: str, notify_url: str, client_ip: str) -> dict[str, Any]:
        try:
            data = self._client.order.create(
                trade_type=trade_type, body=_body(order.description), total_fee=order.total_fen,
                notify_url=notify_url, client_ip=client_ip, out_trade_no=order.out_trade_no,
                user_id=order.openid if trade_type == "JSAPI" else None,
                product_id=order.out_trade_no if trade_type == "NATIVE" else None,
            )
        except WeChatPayException as exc:
            raise _refusal(order, exc) from None
        except requests.RequestException as exc:
            raise PayError(f"unifiedorder {order.out_trade_no}: {type(exc).__name__}") from None
        except (KeyError, TypeError):
            # wechatpy indexes the reply without checking it has a return_code at all.
            raise PayError(f"unifiedorder {order.out_trade_no}: reply without return_code") from None
        if not isinstance(data, dict):
            raise PayError(f"unifiedorder {order.out_trade_no}: reply is not XML")
        # WeChat signs its replies too; an unsigned prepay_id could come from anything between us and it.
        if not self._client.check_signature(dict(data)):
            raise PayError(f"unifiedorder {order.out_trade_no}: reply signature mismatch")
        return data

    def jsapi_params(self, order: Order, notify_url: str, client_ip: str) -> dict[str, str]:
        prepay_id = self._unified_order(order, "JSAPI", notify_url, client_ip).get("prepay_id")
        if not prepay_id:
            raise PayError(f"unifiedorder {order.out_trade_no}: no prepay_id")
        return {k: str(v) for k, v in self._client.jsapi.get_jsapi_params(prepay_id).items()}

    def native_code_url(self, order: Order, notify_url: str, client_ip: str) -> str:
        code_url = self._unified_order(order, "NATIVE", notify_url, client_ip).get("code_url")
        if not code_url:
            raise PayError(f"unifiedorder {order.out_trade_no}: no code_url")
        return str(code_url)

    def checkout_url(self, order: Order, notify_url: str) -> str | None:
        return None


def _refusal(order: Order, exc: WeChatPayException) -> PayError:
    code = exc.errcode or None
    if exc.return_code is None:
        # wechatpy raises this for an HTTP error status: WeChat (or the way to it) is down.
        return PayError(f"unifiedorder {order.out_trade_no}: HTTP error")
    detail = f"unifiedorder {order.out_trade_no}: {exc.return_code}/{exc.result_code} {code or ''} {exc.return_msg or ''}"
    return PayError(detail.strip(), REFUSAL_MESSAGES.get(code or "", REFUSED_MESSAGE), code)


@dataclass(frozen=True)
class Checkout:
    """What a sandbox pay page token carries: the order as we asked for it to be paid."""

    order: Order
    notify_url: str
    trade_type: str


class SandboxPay(_PayV2Notices):
    """The embedded default: a local page shows the order and, on 确认支付, posts WeChat's notification XML,
    signed like WeChat's with a key derived from the signing secret, to the notify URL over HTTP."""

    def __init__(self, secret: str, base_url: str, app_id: str) -> None:
        key = hmac.new(secret.encode(), b"szca-sandbox-pay-key", hashlib.sha256).hexdigest()[:32].upper()
        super().__init__(WeChatPay(app_id, key, SANDBOX_MCH_ID))
        # The token carries the notify URL, so only we may sign one: the page can't be made to POST elsewhere.
        self._tokens = URLSafeTimedSerializer(secret, salt="szca-sandbox-pay")
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _url(self, order: Order, notify_url: str, trade_type: str) -> str:
        token = self._tokens.dumps({"n": order.out_trade_no, "f": order.total_fen, "d": order.description,
                                    "o": order.openid, "u": notify_url, "t": trade_type})
        return f"{self.base_url}/sandbox/pay/{token}"

    def jsapi_params(self, order: Order, notify_url: str, client_ip: str) -> dict[str, str]:
        return {SANDBOX_URL: self._url(order, notify_url, "JSAPI")}

    def native_code_url(self, order: Order, notify_url: str, client_ip: str) -> str:
        # Scanned with a phone's camera, the QR code opens the sandbox page there: the PC flow stays testable.
        return self._url(order, notify_url, "NATIVE")

    def checkout_url(self, order: Order, notify_url: str) -> str | None:
        return self._url(order, notify_url, "JSAPI")

    def read(self, token: str) -> Checkout:
        """The order a page token names; LinkError("expired" | "invalid") otherwise."""
        if len(token) > 2048:
            raise LinkError("invalid")
        try:
            data = self._tokens.loads(token, max_age=SANDBOX_TTL_S)
        except SignatureExpired:
            raise LinkError("expired") from None
        except BadSignature:
            raise LinkError("invalid") from None
        try:
            order = Order(str(data["n"]), data["f"], str(data["d"]), str(data["o"]))
            return Checkout(order, str(data["u"]), str(data["t"]))
        except (KeyError, TypeError, ValueError):
            raise LinkError("invalid") from None

    def transaction_id(self, out_trade_no: str) -> str:
        # Stable per order, so confirming twice sends the very notice WeChat would repeat.
        digest = hmac.new(self._secret.encode(), f"sandbox-txn:{out_trade_no}".encode(), hashlib.sha256).hexdigest()
        return f"SANDBOX{digest[:21].upper()}"

    def notice_xml(self, checkout: Checkout) -> str:
        """A payment-result notification in WeChat Pay v2's shape, MD5-signed with the sandbox key."""
        order = checkout.order
        data = {
            "appid": self._client.appid, "mch_id": self._client.mch_id, "nonce_str": random_string(32),
            "result_code": "SUCCESS", "return_code": "SUCCESS", "openid": order.openid, "is_subscribe": "Y",
            "trade_type": checkout.trade_type, "bank_type": "OTHERS", "fee_type": "CNY",
            "total_fee": order.total_fen, "cash_fee": order.total_fen, "out_trade_no": order.out_trade_no,
            "transaction_id": self.transaction_id(order.out_trade_no),
            "time_end": time.strftime("%Y%m%d%H%M%S", time.localtime()),
        }
        return dict_to_xml(data, calculate_signature(data, self._client.api_key))


class UnavailablePay:
    """Real credentials without a merchant account: online payment is refused, never faked."""

    def jsapi_params(self, order: Order, notify_url: str, client_ip: str) -> dict[str, str]:
        raise PayError("WeChat Pay is not configured", NOT_OPEN_MESSAGE)

    def native_code_url(self, order: Order, notify_url: str, client_ip: str) -> str:
        raise PayError("WeChat Pay is not configured", NOT_OPEN_MESSAGE)

    def checkout_url(self, order: Order, notify_url: str) -> str | None:
        return None

    def parse_notice(self, body: bytes) -> PaymentNotice:
        raise InvalidNotice("WeChat Pay is not configured")

    def notice_reply(self, ok: bool, message: str = "OK") -> str:
        return _notice_reply(ok, message)


def sandbox_pay(settings: Settings) -> SandboxPay:
    """The one way to build the sandbox, so the page and the notify endpoint agree on its key."""
    return SandboxPay(settings.signing_key, settings.base_url, settings.wechat_app_id)


def make_pay(settings: Settings) -> Pay:
    """WeChat Pay when the merchant id and API key are set; else the sandbox page (embedded default only)."""
    if settings.wechat_pay_mch_id and settings.wechat_pay_api_key:
        return WeChatPayProvider(settings.wechat_app_id, settings.wechat_pay_mch_id, settings.wechat_pay_api_key,
                                 base_url=settings.wechat_pay_base_url)
    if settings.sandbox:
        return sandbox_pay(settings)
    return UnavailablePay()


def alipay_link(settings: Settings, order: Order) -> str | None:
    """A plain link to the Alipay gateway ops configured, or None. The real Alipay integration (signed
    alipay.trade.* requests and their notifications) is out of scope: the gateway behind the link does it."""
    if not settings.alipay_link_base:
        return None
    query = urlencode({"out_trade_no": order.out_trade_no, "subject": order.description,
                       # Alipay counts in yuan with two decimals; everything of ours stays in fen.
                       "total_amount": f"{order.total_fen // 100}.{order.total_fen % 100:02d}"})
    base = settings.alipay_link_base
    return f"{base}{'&' if '?' in base else '?'}{query}"


__all__ = ["Pay", "Order", "PaymentNotice", "PayError", "InvalidNotice", "WeChatPayProvider", "SandboxPay",
           "UnavailablePay", "Checkout", "SANDBOX_URL", "make_pay", "sandbox_pay", "alipay_link"]
