"""Text messages: the application dialogue first, then the service's own keywords, then the FAQ.

Also the glue the menu clicks share (start an application, my applications, hand-off), so a click and the
same words typed behave the same.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import dialogs
from bot import agents, documents, messages, notify, steps
from bot.conversation import Conversation, dialog_context
from bot.links import TTL_S
from bot.logs import mask
from bot.printables import form_links
from bot.records import ApplicationRecord, HistoryEntry
from bot.replies import Image, Reply, Text, Transfer
from bot.store import hash_openid
from faq import FaqProfile
from handlers import Context, on_message
from handlers import documents as documents_flow

MAX_TEXT = 600  # longer texts are pastes, not answers; trimmed before any matching
RECENT = 5  # messages kept (masked) for the agent's context
# The catalogue's post-payment step names, as the FAQ's personal answers know them.
_POST_PAYMENT = {"transfer_0_01": "financial_auth", "random_code": "random_code"}


def load_conversation(ctx: Context) -> Conversation:
    return Conversation.parse(ctx.turn.load())


def save_conversation(ctx: Context, conv: Conversation) -> None:
    ctx.turn.save(conv.dump())


_HANDOFF = re.compile(r"^(转)?人工(客服|服务)?$|^(找|联系)?客服$")
_PROGRESS = re.compile(r"^(我的申请|查询?进度|进度(查询)?|申请进度|我的订单|订单)$")
_PRINT = re.compile(r"^(打印|打印申请表|申请表|授权委托书|打印授权委托书|印模采集表|下载申请表|申请表链接)$")
_HELP = re.compile(r"^(帮助|菜单|help|\?|？|功能)$", re.I)
# Answers that mean something only at the latest application's current step.
_PAY_ONLINE = re.compile(r"^(1|在线|在线支付|微信|微信支付|网上支付|支付宝)$")
_PAY_TRANSFER = re.compile(r"^(2|公对公|公对公转账|对公转账|转账|银行转账)$")
_LEGAL_PERSON = re.compile(r"^(法人认证|改用法人认证|申请法人认证)$")
_RESUBMIT = re.compile(r"^(重新提交|提交|再次提交|重新提交审核|已修改)$")
_CODE = re.compile(r"^(?:随机码|验证码|随机验证码)?\s*[:：]?\s*(\d{4,8})$")


@on_message("text")
def text(message: Any, ctx: Context) -> list[Reply]:
    return answer_text(str(message.content or ""), ctx)


def answer_text(raw: str, ctx: Context) -> list[Reply]:
    content = raw.strip()[:MAX_TEXT]
    if not content:
        return [Text(messages.HELP)]
    conv = load_conversation(ctx)
    conv.recent = (conv.recent + [mask(content)])[-RECENT:]
    if with_agent(ctx, conv):
        # A human has this chat: every message goes to the agents, the bot stays silent.
        save_conversation(ctx, conv)
        return [Transfer(ctx.services.settings.wechat_kf_account)]
    had_draft = conv.dialog is not None
    replies = _route(content, ctx, conv)
    if conv.dialog is None:
        conv.editing = None  # corrections end with the dialogue, whether confirmed or dropped
    save_conversation(ctx, conv)
    # The 24 h reminder follows drafts; only messages that touch a form pay the extra round trip.
    if conv.dialog is not None:
        notify.touch_draft(ctx.services.redis, ctx.openid, ctx.now)
    elif had_draft:
        notify.drop_draft(ctx.services.redis, ctx.openid)
    return replies


def _route(content: str, ctx: Context, conv: Conversation) -> list[Reply]:
    faq = ctx.services.faq
    faq.reload()
    misses, conv.misses = conv.misses, 0

    if conv.faq_suggestions:
        picked = faq.pick(conv.faq_suggestions, content, _profile(ctx, conv))
        conv.faq_suggestions = []
        if picked is not None:
            return [Text(picked.text)]

    if conv.pending_upload is not None:
        placed = documents_flow.place_pending(ctx, conv, content)
        if placed is not None:
            return placed

    if conv.in_form and _PROGRESS.match(content):
        # A service word typed mid-form is never taken as a field value: answer it, then ask again.
        return my_applications(ctx) + [Text(r) for r in dialogs.reprompt(conv.dialog, _dialog_context(ctx))]

    answers = dict(conv.dialog.answers) if conv.dialog is not None else {}
    result = dialogs.handle(conv.dialog, content, _dialog_context(ctx))
    if result.claimed:
        conv.dialog = result.state
        return [Text(r) for r in result.replies] + _apply_effects(result.effects, ctx, conv, answers)

    if _HANDOFF.match(content):
        return handoff(ctx, conv, "用户要求人工")
    if _PROGRESS.match(content):
        return my_applications(ctx)
    if _HELP.match(content):
        return [Text(messages.HELP)]
    if _PRINT.match(content):
        record = _latest_record(ctx, conv)
        return print_links(ctx, record) if record is not None else [Text(messages.MY_APPLICATIONS_EMPTY)]

    if conv.latest_application and conv.dialog is None:
        stepped = _application_step(ctx, conv, content)
        if stepped is not None:
            return stepped

    reply = faq.ask(content, _profile(ctx, conv))
    conv.faq_suggestions = list(reply.suggestions) if reply.outcome == "suggest" else []
    if reply.outcome == "none":
        conv.misses = misses + 1
        if conv.misses >= ctx.services.settings.handoff_after_misses:
            conv.misses = 0
            # transfer_customer_service only works as the passive reply: it goes first, the note is pushed.
            replies = handoff(ctx, conv, "连续多条消息未能理解", announce=False)
            return replies + [Text(messages.HANDOFF_AFTER_MISSES)] if isinstance(replies[0], Transfer) else replies
    return [Text(reply.text)]


def with_agent(ctx: Context, conv: Conversation) -> bool:
    """True while a human agent has the chat; a hand-off lapses by itself after its time."""
    if conv.agent_until is None:
        return False
    if ctx.now.timestamp() < conv.agent_until:
        return True
    conv.agent_until = None
    return False



def _application_step(ctx: Context, conv: Conversation, content: str) -> list[Reply] | None:
    """Answers that only mean something at the latest application's current step: 1/2 for the payment
    method, the random code. None when the text is not such an answer."""
    record = _latest_record(ctx, conv)
    if record is None:
        return None
    if record.status == "payment" and not (record.data.get("payment") or {}).get("method"):
        method = "online" if _PAY_ONLINE.match(content) else "transfer" if _PAY_TRANSFER.match(content) else None
        if method is None:
            return None
        ctx.services.store.update_record(
            record.number, lambda r: r.data.__setitem__("payment", {**(r.data.get("payment") or {}), "method": method}))
        record = ctx.services.store.record(record.number)
        return steps.pay_link(ctx.services, record) if method == "online" else steps.transfer_details(ctx.services, record)
    if record.status == "rejected" and _RESUBMIT.match(content):
        return steps.resubmit(ctx.services, record, ctx.now)
    if record.status == "rejected" and content.startswith(("修改", "更改")):
        return _start_corrections(ctx, conv, record, content)
    if record.status == "financial_auth_failed":
        if _LEGAL_PERSON.match(content):
            # Legal-person authentication is not open on every platform: a human arranges it.
            return handoff(ctx, conv, "申请改用法人认证")
        return steps.finance_resubmit(ctx.services, record, content, ctx.now)
    match = _CODE.match(content.replace(" ", ""))
    if record.status == "code" and match:
        return steps.code_entered(ctx.services, record, match.group(1), ctx.now)
    return None


def start_application(ctx: Context) -> list[Reply]:
    conv = load_conversation(ctx)
    result = dialogs.start(conv.dialog, _dialog_context(ctx))
    conv.dialog = result.state
    replies: list[Reply] = [Text(r) for r in result.replies]
    replies += _apply_effects(result.effects, ctx, conv)
    save_conversation(ctx, conv)
    return replies


def my_applications(ctx: Context) -> list[Reply]:
    records = ctx.services.store.records(ctx.openid)
    if not records:
        return [Text(messages.MY_APPLICATIONS_EMPTY)]
    lines = ["您的证书申请："]
    for i, rec in enumerate(records, 1):
        lines.append(f"{i}. {rec.number} {rec.platform} {rec.cert_type}\n   状态：{rec.status_text}")
        if rec.status in documents.OPEN_FOR_UPLOADS and documents.required(rec):
            lines.append("   资料：\n" + documents.checklist(rec))
    replies: list[Reply] = [Text("\n".join(lines))]
    # The latest application's next action, so the list is never a dead end.
    return replies + steps.next_step(ctx.services, records[0])


def print_links(ctx: Context, record: ApplicationRecord) -> list[Reply]:
    """Fresh signed links to the forms to print, and a QR code of the main one for opening it on a PC."""
    urls = form_links(ctx.openid, record, ctx.services.links)
    form_name = "授权委托书" if "authorization_letter" in documents.required(record) else "申请表"
    text = messages.PRINT_LINKS.format(days=TTL_S["form"] // 86400, form_name=form_name, **urls)
    return [Text(text), Image(qr=urls["form"])]


def _latest_record(ctx: Context, conv: Conversation) -> ApplicationRecord | None:
    if not conv.latest_application:
        return None
    record = ctx.services.store.record(conv.latest_application)
    return record if record is not None and record.openid == ctx.openid else None


def handoff(ctx: Context, conv: Conversation, reason: str, announce: bool = True) -> list[Reply]:
    """To a human: WeChat's transfer_customer_service while agents are on duty, with the context logged for
    them; outside service hours, when they are back and the hotline."""
    settings = ctx.services.settings
    if not agents.on_duty(settings, ctx.now):
        return [Text(messages.AGENTS_OFF_DUTY.format(hours=agents.hours_text(settings),
                                                     back=agents.next_on_duty(settings, ctx.now)))]
    conv.agent_until = ctx.now.timestamp() + settings.handoff_minutes * 60
    agents.record_handoff(ctx.services.store, hash_openid(ctx.openid), _latest_record(ctx, conv), conv.recent,
                          reason, ctx.now)
    replies: list[Reply] = [Transfer(settings.wechat_kf_account)]
    return replies + ([Text(messages.HANDOFF_PENDING)] if announce else [])


def _dialog_context(ctx: Context) -> dialogs.DialogContext:
    return dialog_context(ctx.services.settings.base_url, ctx.services.faq.hook, ctx.now)


def _apply_effects(effects: list[object], ctx: Context, conv: Conversation,
                   answers: dict[str, Any] | None = None) -> list[Reply]:
    out: list[Reply] = []
    for effect in effects:
        if isinstance(effect, dialogs.Submit) and conv.editing:
            out += _save_corrections(ctx, conv, effect.application, answers or {})
        elif isinstance(effect, dialogs.Submit):
            record = _create_record(ctx, effect.application, answers or {})
            conv.latest_application = record.number
            out += [Text(r) for r in dialogs.submitted_replies(effect.application, record.number)]
            out += print_links(ctx, record)
        elif isinstance(effect, dialogs.Handoff):
            out += handoff(ctx, conv, "填表中要求人工")
    return out


def _create_record(ctx: Context, application: dialogs.Application, answers: dict[str, Any]) -> ApplicationRecord:
    store = ctx.services.store
    number = store.new_application_number("SZ", ctx.now.strftime("%Y%m%d"))
    # The form's own answers too: after a rejection the user corrects named fields in the same dialogue.
    data = {**application.model_dump(mode="json"), "answers": answers}
    record = ApplicationRecord(
        number=number,
        openid=ctx.openid,
        status="documents",
        platform=application.platform_name,
        cert_type=application.cert_type,
        created_at=ctx.now,
        updated_at=ctx.now,
        data=data,
        history=[HistoryEntry(at=ctx.now, by="applicant", status="documents", note="在微信中提交申请信息")],
        retain_until=ctx.now + timedelta(days=ctx.services.settings.retention_days),
    )
    store.save_record(record, ctx.turn)
    return record


def _start_corrections(ctx: Context, conv: Conversation, record: ApplicationRecord, content: str) -> list[Reply]:
    """修改 X on a rejected application: reopen its confirmed answers at the summary and let the dialogue
    change exactly what the user names; 确认 then updates this record (see _save_corrections)."""
    stored = record.data.get("answers")
    if not stored:
        return [Text(messages.CORRECTIONS_UNAVAILABLE)]
    conv.dialog = dialogs.DialogState(form="application", answers=stored, confirming=True)
    conv.editing = record.number
    result = dialogs.handle(conv.dialog, content, _dialog_context(ctx))
    conv.dialog = result.state
    return [Text(r) for r in result.replies]


def _save_corrections(ctx: Context, conv: Conversation, application: dialogs.Application,
                      answers: dict[str, Any]) -> list[Reply]:
    number, conv.editing = conv.editing, None
    keep = ("payment", "identity", "code", "rejection", "shipment", "notifications")

    def change(record: ApplicationRecord) -> None:
        if record.status != "rejected":
            raise documents.UploadsClosed(record.status)
        kept = {k: record.data[k] for k in keep if k in record.data}
        record.data = {**application.model_dump(mode="json"), "answers": answers, **kept}
        record.updated_at = ctx.now
        record.history.append(HistoryEntry(at=ctx.now, by="applicant", status="rejected", note="按驳回意见修改填写内容"))

    try:
        ctx.services.store.update_record(number or "", change)
    except (KeyError, documents.UploadsClosed):
        return [Text(messages.CORRECTIONS_CLOSED)]
    return [Text(messages.CORRECTIONS_SAVED)]


def _profile(ctx: Context, conv: Conversation) -> FaqProfile | None:
    if not conv.latest_application:
        return None
    record = ctx.services.store.record(conv.latest_application)
    if record is None:
        return None
    data = record.data
    return FaqProfile(
        application_number=record.number,
        platform_name=record.platform,
        cert_type=record.cert_type,
        payment_method=data.get("payment_method"),
        post_payment_step=_POST_PAYMENT.get(data.get("post_payment_step") or ""),
        status_text=record.status_text,
        invoice_title=(data.get("invoice") or {}).get("title"),
    )
