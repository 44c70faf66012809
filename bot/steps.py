"""What the applicant does next, and the moves that happen when a step completes: documents complete →
identity; identity passed → payment; paid → 0.01 financial authentication or the random code; code → review.

Every place that completes a step (a chat message, a job, a mobile page, a payment notice) calls these, so
the user sees the same next step whichever way they got there.
"""

from __future__ import annotations

from datetime import datetime

from bot import documents, identity, lifecycle, messages, orders, verification
from bot.providers.pay import Order, alipay_link
from bot.records import ApplicationRecord
from bot.replies import Image, Reply, Text
from bot.services import Services
import re

from dialogs import Application, mask_account, validators
from dialogs.application import find_bank


def application(record: ApplicationRecord) -> Application:
    return Application.model_validate(record.data)


def identity_link(svc: Services, record: ApplicationRecord) -> list[Reply]:
    url = svc.links.url("identity", record.openid, record.number, "/m/identity")
    who = identity.subject(record)
    return [Text(messages.IDENTITY_STEP.format(role=who.role, url=url)), Image(qr=url)]


def payment_choice(record: ApplicationRecord) -> list[Reply]:
    return [Text(orders.describe(application(record), record.number) + "\n" + messages.PAY_CHOICE)]


def order(record: ApplicationRecord) -> Order:
    """One payment order per application, numbered like it: a repeated request is the same order."""
    app = application(record)
    return Order(out_trade_no=record.number, total_fen=orders.total(app),
                 description=f"深圳CA数字证书-{app.cert_type}", openid=record.openid)


def pay_link(svc: Services, record: ApplicationRecord) -> list[Reply]:
    url = svc.links.url("pay", record.openid, record.number, "/m/pay")
    replies: list[Reply] = [Text(messages.PAY_ONLINE.format(url=url)), Image(qr=url)]
    alipay = alipay_link(svc.settings, order(record))
    if alipay:
        replies.insert(1, Text(messages.PAY_ALIPAY.format(url=alipay)))
    return replies


def transfer_details(svc: Services, record: ApplicationRecord) -> list[Reply]:
    s = svc.settings
    app = application(record)
    pin_to = "申请人手机" if app.cert_type_id != "org" else "经办人手机"
    return [Text(messages.PAY_TRANSFER.format(
        name=s.transfer_account_name, bank=s.transfer_bank, account=s.transfer_account,
        amount=orders.yuan(orders.total(app)), number=record.number, pin_to=pin_to))]


def payment_state(record: ApplicationRecord) -> dict:
    return dict(record.data.get("payment") or {})


def next_step(svc: Services, record: ApplicationRecord) -> list[Reply]:
    """The one thing to do now, for 我的申请 and after any change."""
    status = record.status
    if status == "documents":
        return [Text(documents.still_needed_text(record))]
    if status == "identity":
        return identity_link(svc, record)
    if status == "payment":
        pay = payment_state(record)
        if pay.get("method") == "transfer":
            return [Text(messages.PAY_VOUCHER_RECEIVED)] if pay.get("voucher") else transfer_details(svc, record)
        if pay.get("method") == "online":
            return pay_link(svc, record)
        return payment_choice(record)
    if status == "code":
        return [Text(messages.PAID_RANDOM_CODE.split("\n", 1)[1])]
    if status in ("financial_auth", "review"):
        return [Text(messages.IN_REVIEW)]
    if status == "rejected":
        rejection = record.data.get("rejection") or {}
        resend = [documents.short_name(d) for d in documents.missing(record)]
        return [Text(messages.REJECTED_NEXT.format(
            reason=rejection.get("reason", ""),
            resend=("请重新发送：" + "、".join(resend) + "（直接发照片）。") if resend else ""))]
    if status == "financial_auth_failed":
        return [Text(messages.FINANCIAL_AUTH_FAILED_NEXT.format(reason=record.history[-1].note if record.history else ""))]
    if status == "approved":
        return [Text(messages.APPROVED_NEXT)]
    if status == "shipped":
        shipment = record.data.get("shipment") or {}
        return [Text(messages.SHIPPED_NEXT.format(carrier=shipment.get("carrier", ""), tracking=shipment.get("tracking", "")))]
    return []


def documents_complete(svc: Services, record: ApplicationRecord, now: datetime) -> list[Reply]:
    """All documents in: on to the identity check (once; a replacement later changes nothing)."""
    if record.status != "documents" or documents.missing(record):
        return []
    try:
        record = lifecycle.move(svc.store, record.number, "identity", by="applicant", note="资料已上传齐全",
                                now=now, retention_days=svc.settings.retention_days)
    except lifecycle.IllegalTransition:
        return []
    return identity_link(svc, record)


def identity_passed(svc: Services, record: ApplicationRecord, now: datetime) -> list[Reply]:
    def stamp(r: ApplicationRecord) -> None:
        r.data["identity"] = {**identity.state(r), "passed_at": now.isoformat()}

    record = lifecycle.move(svc.store, record.number, "payment", by="applicant", note="身份认证通过", now=now,
                            retention_days=svc.settings.retention_days, also=stamp)
    return [Text(messages.IDENTITY_PASSED)] + payment_choice(record)


def paid_online(svc: Services, record: ApplicationRecord, transaction_id: str, fen: int, now: datetime) -> list[Reply]:
    """A verified, amount-checked payment: move on to the platform's post-payment step."""
    step = record.data.get("post_payment_step")
    target = "code" if step == "random_code" else "financial_auth"

    def stamp(r: ApplicationRecord) -> None:
        r.data["payment"] = {**payment_state(r), "method": "online", "transaction_id": transaction_id,
                             "paid_fen": fen, "paid_at": now.isoformat()}

    record = lifecycle.move(svc.store, record.number, target, by="wechat-pay", note=f"在线支付 {orders.yuan(fen)}",
                            now=now, retention_days=svc.settings.retention_days, also=stamp)
    amount = orders.yuan(fen)
    if target == "financial_auth":
        return [Text(messages.PAID_FINANCIAL_AUTH.format(amount=amount))]
    replies: list[Reply] = [Text(messages.PAID_RANDOM_CODE.format(amount=amount))]
    if svc.settings.sandbox:
        # Finance's 0.01 transfer, simulated so the whole flow can be tried without a bank.
        code = verification.new_code()
        verification.set_code(svc.store, record.number, code)
        replies.append(Text(messages.SANDBOX_CODE.format(code=code)))
    return replies


def code_entered(svc: Services, record: ApplicationRecord, attempt: str, now: datetime) -> list[Reply]:
    outcome, left = verification.check(svc.store, record.number, attempt)
    if outcome == "ok":
        lifecycle.move(svc.store, record.number, "review", by="applicant", note="随机码验证通过", now=now,
                       retention_days=svc.settings.retention_days)
        return [Text(messages.CODE_OK)]
    if outcome == "locked":
        return [Text(messages.CODE_LOCKED)]
    if outcome == "unset":
        return [Text("随机码还未发出：财务打款后附言里会有随机码，请稍后再输入。")]
    return [Text(messages.CODE_WRONG.format(left=left))]


def tell(svc: Services, record: ApplicationRecord, kind: str) -> str:
    """Notify the applicant of a change staff made (template → customer service → SMS, once per channel)."""
    from bot import notify

    params: dict[str, str] = {"at": datetime.now().strftime("%Y-%m-%d %H:%M")}
    if kind == "rejected":
        rejection = record.data.get("rejection") or {}
        params["reason"] = rejection.get("reason", "")
        fixes = [*rejection.get("fields", []), *(documents.short_name(d) for d in rejection.get("documents", []))]
        params["fix"] = ("请在公众号回复“我的申请”，按提示修改：" + "、".join(fixes)) if fixes else "请在公众号回复“我的申请”查看并修改。"
    elif kind == "financial_auth_failed":
        params["reason"] = record.history[-1].note if record.history else ""
    elif kind == "invoice_ready":
        params["url"] = str(record.data.get("invoice_url", ""))
    elif kind == "shipped":
        shipment = record.data.get("shipment") or {}
        params.update(carrier=shipment.get("carrier", ""), tracking_no=shipment.get("tracking", ""))
    return notify.notify(svc, record.number, kind, params)


def resubmit(svc: Services, record: ApplicationRecord, now: datetime) -> list[Reply]:
    """After a rejection: once the named documents are sent again, back to review."""
    left = documents.missing(record)
    if left:
        return [Text(messages.RESUBMIT_MISSING.format(docs="、".join(documents.short_name(d) for d in left)))]
    try:
        lifecycle.move(svc.store, record.number, "review", by="applicant", note="按驳回意见修改后重新提交", now=now,
                       retention_days=svc.settings.retention_days)
    except lifecycle.IllegalTransition:
        return []
    return [Text(messages.RESUBMITTED)]


_ACCOUNT = re.compile(r"\d[\d\s-]{6,40}\d")


def finance_resubmit(svc: Services, record: ApplicationRecord, text: str, now: datetime) -> list[Reply] | None:
    """After a failed financial authentication: "招商银行 7559 1234 5678 901" re-enters the basic account and
    sends the application back to authentication. None when the text is not such an answer."""
    found = _ACCOUNT.search(text)
    if found is None:
        return None
    bank = find_bank(text.replace(found.group(0), " ").strip(" ，,：:"))
    if bank is None:
        return [Text(messages.FINANCE_BANK_UNCLEAR)]
    try:
        account = validators.account(found.group(0))
    except validators.Invalid as bad:
        return [Text(str(bad))]

    def update(r: ApplicationRecord) -> None:
        finance = dict(r.data.get("finance") or {})
        r.data["finance"] = {**finance, "bank": bank, "account": account}

    lifecycle.move(svc.store, record.number, "financial_auth", by="applicant", note="重新提交金融认证信息",
                   now=now, retention_days=svc.settings.retention_days, also=update)
    return [Text(messages.FINANCE_RESUBMITTED.format(bank=bank, account=mask_account(account)))]
