"""The sandbox pay page of the embedded default: stands in for WeChat's cashier and sends its notification."""

from __future__ import annotations

import logging
from typing import Any

import requests
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from flask import Blueprint, Response, current_app, render_template, request

from bot.links import LinkError
from bot.orders import yuan
from bot.providers.pay import Checkout, SandboxPay, sandbox_pay
from bot.simulator import sandbox_only

log = logging.getLogger(__name__)
bp = Blueprint("sandbox_pay", __name__, template_folder="templates")
# 404 without dev credentials, exactly like the simulator, even if someone mounts it by hand.
bp.before_request(sandbox_only)

# WeChat allows a notify endpoint 5 s; the sandbox holds the user's page no longer than that.
NOTIFY_TIMEOUT_S = (3.0, 5.0)
BACK_URL = "/simulator"  # the sandbox's stand-in for the chat

LINK_TEXT = {
    "expired": ("支付链接已过期", "支付页面2小时内有效。请返回对话，重新打开支付链接。"),
    "invalid": ("支付链接无效", "链接不完整或已被修改，无法支付。请使用对话里发给您的原始链接。"),
}
PAID = ("支付成功", "模拟支付已完成，付款结果已通知公众号服务。请返回对话查看下一步。")
CANCELLED = ("已取消支付", "没有扣款。需要付款时，请重新打开支付链接。")
NOTIFY_FAILED = ("支付结果通知失败", "公众号服务没有确认这笔付款（{detail}），可稍后重新点“确认支付”。")


def _settings() -> Any:
    return current_app.extensions["szca"]["services"].settings


def _page(status: int = 200, **context: Any) -> Response:
    resp = Response(render_template("sandbox_pay.html", **context), status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _result(text: tuple[str, str], ok: bool, status: int = 200, **fmt: str) -> Response:
    title, message = text
    return _page(status, title=title, message=message.format(**fmt), ok=ok, back_url=BACK_URL)


def _checkout(pay: SandboxPay, token: str) -> Checkout | Response:
    try:
        return pay.read(token)
    except LinkError as exc:
        title, message = LINK_TEXT[exc.reason]
        return Response(render_template("link_error.html", title=title, message=message),
                        status=410 if exc.reason == "expired" else 403, mimetype="text/html")


@bp.get("/sandbox/pay/<token>")
def page(token: str) -> Response:
    checkout = _checkout(sandbox_pay(_settings()), token)
    if isinstance(checkout, Response):
        return checkout
    order = checkout.order
    return _page(title="模拟支付", checkout=True, number=order.out_trade_no, description=order.description,
                 total=yuan(order.total_fen))


@bp.post("/sandbox/pay/<token>")
def decide(token: str) -> Response:
    pay = sandbox_pay(_settings())
    checkout = _checkout(pay, token)
    if isinstance(checkout, Response):
        return checkout
    if request.form.get("action") != "confirm":
        return _result(CANCELLED, ok=False)
    detail = _notify(checkout.notify_url, pay.notice_xml(checkout))
    if detail:
        log.warning("sandbox pay notify for %s failed: %s", checkout.order.out_trade_no, detail)
        return _result(NOTIFY_FAILED, ok=False, status=502, detail=detail)
    return _result(PAID, ok=True)


def _notify(url: str, xml: str) -> str | None:
    """POST the notice like WeChat does; None when the endpoint acknowledged it, else what went wrong."""
    try:
        resp = requests.post(url, data=xml.encode("utf-8"), headers={"Content-Type": "text/xml"},
                             timeout=NOTIFY_TIMEOUT_S)
    except requests.RequestException as exc:
        return f"无法连接：{type(exc).__name__}"
    try:
        code = fromstring(resp.content, forbid_dtd=True).findtext("return_code")
    except (DefusedXmlException, ParseError, ValueError):
        code = None
    if resp.status_code != 200 or code != "SUCCESS":
        return f"HTTP {resp.status_code}，{code or '无法读取的回复'}"
    return None
