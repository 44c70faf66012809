"""The pages the assistant links to from chat: the identity check (ID photos, then liveness) and payment, plus
the payment notification WeChat Pay calls.  Every page is opened through a signed link bound to one user and
one application; the outcome reaches the chat by itself as a pushed message."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, Response, current_app, redirect, render_template, request

from bot import identity, jobs, lifecycle, messages, orders, steps, uploads
from bot.printables import claimed_record, link_error
from bot.records import ApplicationRecord
from bot.replies import Reply, Text
from bot.services import Services
from bot.store import hash_openid

log = logging.getLogger(__name__)
bp = Blueprint("mobile", __name__, template_folder="templates")


def _svc() -> Services:
    return current_app.extensions["szca"]["services"]


def _page(template: str, status: int = 200, **context: object) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _push(record: ApplicationRecord, replies: list[Reply], key: str) -> None:
    jobs.enqueue_push(_svc().queue, record.openid, replies, key)


# -- identity: ID card photos, then liveness ------------------------------------------------------------------
@bp.get("/m/identity/<token>")
def identity_page(token: str) -> Response:
    record = claimed_record("identity", token)
    if isinstance(record, Response):
        return record
    if record.status != "identity":
        return _page("mobile_result.html", title="无需认证", ok=True,
                     message="这份申请已完成身份认证，请返回微信查看下一步。")
    who = identity.subject(record)
    return _page("mobile_identity.html", role=who.role, name=who.name[0] + "*" * (len(who.name) - 1),
                 number=record.number, error=None, meta_script=_needs_meta_info())


def _needs_meta_info() -> bool:
    """Aliyun's face verification wants the device's MetaInfo from its own browser script; the sandbox doesn't."""
    from bot.providers.liveness import SandboxLiveness

    return not isinstance(_svc().liveness, SandboxLiveness)


@bp.post("/m/identity/<token>")
def identity_submit(token: str) -> Response:
    record = claimed_record("identity", token)
    if isinstance(record, Response):
        return record
    if record.status != "identity":
        return redirect(request.path, code=303)
    svc = _svc()
    who = identity.subject(record)
    masked = who.name[0] + "*" * (len(who.name) - 1)

    def again(message: str, status: int = 400) -> Response:
        return _page("mobile_identity.html", status=status, role=who.role, name=masked, number=record.number,
                     error=message, meta_script=_needs_meta_info())

    front, back = request.files.get("front"), request.files.get("back")
    if front is None or back is None:
        return again("请拍摄或选择身份证人像面和国徽面两张照片。")
    try:
        front_bytes, back_bytes = front.read(uploads.MAX_BYTES + 1), back.read(uploads.MAX_BYTES + 1)
        uploads.inspect(front_bytes)
        uploads.inspect(back_bytes)
    except uploads.UploadRejected as rejected:
        return again(rejected.message)
    try:
        identity.check_photos(svc.ocr, who, front_bytes, back_bytes, datetime.now().date())
    except identity.IdentityUnavailable as down:
        return _unavailable(down.message)
    except identity.IdentityMismatch as mismatch:
        return again(mismatch.message)
    return _start_liveness(svc, record, who, token)


def _start_liveness(svc: Services, record: ApplicationRecord, who: identity.Subject, token: str) -> Response:
    from bot.providers.liveness import LivenessUnavailable

    attempt = int(identity.state(record).get("attempts", 0)) + 1
    try:
        started = svc.liveness.start(
            order_no=f"{record.number}-{attempt}", name=who.name, id_number=who.id_number,
            meta_info=request.form.get("meta_info") or "{}",
            return_url=f"{svc.settings.base_url}/m/identity/{token}/done",
        )
    except LivenessUnavailable as exc:
        return _unavailable(exc.user_message)

    def remember(r: ApplicationRecord) -> None:
        r.data["identity"] = {**identity.state(r), "certify_id": started.certify_id, "photos_checked": True}

    svc.store.update_record(record.number, remember)
    return redirect(started.url, code=303)


def _unavailable(message: str) -> Response:
    """An outside service is down: try again later (the page names the hotline), nothing changed."""
    return _page("mobile_result.html", status=503, title="暂时无法认证", ok=False, message=message)


@bp.get("/m/identity/<token>/done")
def identity_done(token: str) -> Response:
    record = claimed_record("identity", token)
    if isinstance(record, Response):
        return record
    svc = _svc()
    state = identity.state(record)
    if record.status != "identity":
        return _page("mobile_result.html", title="认证已完成", ok=True, message="请返回微信继续办理。")
    certify_id = state.get("certify_id")
    if not certify_id or request.args.get("certify_id", certify_id) != certify_id:
        return link_error("invalid", 403)
    from bot.providers.liveness import LivenessUnavailable

    try:
        result = svc.liveness.result(certify_id)
    except LivenessUnavailable as exc:
        # Nothing is counted or changed: the same return page (or a new check) works once Aliyun answers.
        return _unavailable(exc.user_message)
    now = datetime.now()
    if result.passed:
        try:
            replies = steps.identity_passed(svc, record, now)
        except lifecycle.IllegalTransition:  # the same return page opened twice
            return _page("mobile_result.html", title="认证已完成", ok=True, message="请返回微信继续办理。")
        _push(record, replies, f"identity-{certify_id}")
        log.info("identity passed for %s (%s)", record.number, hash_openid(record.openid))
        return _page("mobile_result.html", title=messages.IDENTITY_PASSED, ok=True,
                     message="请返回微信，按提示完成缴费。")
    attempts = int(state.get("attempts", 0)) + 1

    def count(r: ApplicationRecord) -> None:
        r.data["identity"] = {**identity.state(r), "attempts": attempts, "certify_id": None,
                              "last_failure": result.code}

    svc.store.update_record(record.number, count)
    if attempts >= identity.MAX_ATTEMPTS:
        replies: list[Reply] = [Text(f"身份认证未通过：{result.message}"),
                                Text(messages.IDENTITY_GIVE_UP.format(n=attempts))]
    else:
        url = svc.links.url("identity", record.openid, record.number, "/m/identity")
        replies = [Text(messages.IDENTITY_FAILED.format(reason=result.message, url=url))]
    _push(record, replies, f"identity-{certify_id}")
    return _page("mobile_result.html", status=200, title="认证未通过", ok=False,
                 message=f"{result.message} 请返回微信，按提示重新认证。")


# -- payment ------------------------------------------------------------------------------------------------
@bp.get("/m/pay/<token>")
def pay_page(token: str) -> Response:
    from bot.providers.pay import PayError

    record = claimed_record("pay", token)
    if isinstance(record, Response):
        return record
    if record.status != "payment":
        paid = record.status in lifecycle.PAID
        return _page("mobile_result.html", title="已支付" if paid else "暂不能支付", ok=paid,
                     message="这份申请已付款，请返回微信查看下一步。" if paid else "请先完成前面的步骤，再来支付。")
    svc = _svc()
    app = steps.application(record)
    order = steps.order(record)
    in_wechat = "MicroMessenger" in request.headers.get("User-Agent", "")
    notify_url = f"{svc.settings.base_url}/pay/notify"
    try:
        if in_wechat:
            params, native = _prepared(svc, record, "JSAPI"), None
        else:
            params, native = None, _prepared(svc, record, "NATIVE")
    except PayError as exc:
        return _page("mobile_result.html", status=503, title="暂时无法支付", ok=False, message=exc.user_message)
    return _page("mobile_pay.html", number=record.number, items=orders.items(app), total=orders.yuan(order.total_fen),
                 yuan=orders.yuan, jsapi=params, native=native, sandbox_url=svc.pay.checkout_url(order, notify_url))


PREPAY_TTL_S = 2 * 3600 - 300  # WeChat keeps a prepay_id / code_url 2 hours; renew a little before


def _prepared(svc: Services, record: ApplicationRecord, trade_type: str):  # noqa: ANN202 - dict or str
    """One unifiedorder per order and trade type, reused while valid: WeChat refuses a second unifiedorder for
    the same out_trade_no with other parameters, and every page view or QR fetch would otherwise make one."""
    cached = (record.data.get("payment") or {}).get("prepared", {}).get(trade_type)
    now = datetime.now().timestamp()
    if cached and now - cached["at"] < PREPAY_TTL_S:
        return cached["value"]
    order = steps.order(record)
    notify_url = f"{svc.settings.base_url}/pay/notify"
    ip = request.remote_addr or "127.0.0.1"
    value = svc.pay.jsapi_params(order, notify_url, ip) if trade_type == "JSAPI" else svc.pay.native_code_url(order, notify_url, ip)

    def keep(r: ApplicationRecord) -> None:
        payment = dict(r.data.get("payment") or {})
        payment["prepared"] = {**payment.get("prepared", {}), trade_type: {"value": value, "at": now}}
        r.data["payment"] = payment

    svc.store.update_record(record.number, keep)
    return value


@bp.get("/m/pay/<token>/qr.png")
def pay_qr(token: str) -> Response:
    from bot.providers.pay import PayError

    record = claimed_record("pay", token)
    if isinstance(record, Response):
        return record
    svc = _svc()
    try:
        code_url = _prepared(svc, record, "NATIVE")
    except PayError:
        return Response(status=503)
    resp = Response(jobs.qr_png(code_url), mimetype="image/png")
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.post("/pay/notify")
def pay_notify() -> Response:
    """WeChat Pay's notification: verified, matched to its order, amount-checked, applied once."""
    from bot.providers.pay import InvalidNotice

    svc = _svc()
    body = request.get_data(cache=False)[: 64 * 1024]
    try:
        notice = svc.pay.parse_notice(body)
    except InvalidNotice as exc:
        log.warning("payment notice refused: %s", exc)
        return Response(svc.pay.notice_reply(False, "invalid notice"), status=400, mimetype="application/xml")
    record = svc.store.record(notice.out_trade_no)
    if record is None:
        log.warning("payment notice for an unknown order")
        return Response(svc.pay.notice_reply(False, "unknown order"), status=400, mimetype="application/xml")
    expected = orders.total(steps.application(record))
    if notice.total_fen != expected:
        # Never move an application on a payment that doesn't match its order; staff look at it.
        log.error("payment amount mismatch on %s: paid %s, order %s", record.number, notice.total_fen, expected)
        return Response(svc.pay.notice_reply(False, "amount mismatch"), status=400, mimetype="application/xml")
    already = (record.data.get("payment") or {}).get("transaction_id")
    if record.status != "payment" or already:
        # WeChat repeats a notice until it is acknowledged: the second one is acknowledged and changes nothing.
        return Response(svc.pay.notice_reply(True), mimetype="application/xml")
    try:
        replies = steps.paid_online(svc, record, notice.transaction_id, notice.total_fen, datetime.now())
    except lifecycle.IllegalTransition:
        return Response(svc.pay.notice_reply(True), mimetype="application/xml")
    _push(record, replies, f"paid-{notice.transaction_id}")
    return Response(svc.pay.notice_reply(True), mimetype="application/xml")
