"""Text messages: the application dialogue first, then the service's own keywords, then the FAQ.

Also the glue the menu clicks share (start an application, my applications, hand-off), so a click and the
same words typed behave the same.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field, ValidationError

import dialogs
from bot import messages
from bot.records import ApplicationRecord, HistoryEntry
from bot.replies import Reply, Text, Transfer
from faq import FaqProfile
from handlers import Context, on_message

MAX_TEXT = 600
# The catalogue's post-payment step names, as the FAQ's personal answers know them.
_POST_PAYMENT = {"transfer_0_01": "financial_auth", "random_code": "random_code"}  # longer texts are pastes, not answers; trimmed before any matching


class Conversation(BaseModel):
    """Everything kept between one user's messages (Redis, 7-day TTL)."""

    v: int = 1
    dialog: dialogs.DialogState | None = None
    faq_suggestions: list[str] = Field(default_factory=list)
    latest_application: str | None = None


def load_conversation(ctx: Context) -> Conversation:
    raw = ctx.turn.load()
    if not raw:
        return Conversation()
    try:
        return Conversation.model_validate_json(raw)
    except ValidationError:
        # A state from an older release that no longer fits: start afresh rather than fail every message.
        return Conversation()


def save_conversation(ctx: Context, conv: Conversation) -> None:
    empty = conv.dialog is None and not conv.faq_suggestions and conv.latest_application is None
    ctx.turn.save(None if empty else conv.model_dump_json(exclude_defaults=True))


_HANDOFF = re.compile(r"^(转)?人工(客服|服务)?$|^(找|联系)?客服$")
_PROGRESS = re.compile(r"^(我的申请|查询?进度|进度(查询)?|申请进度|我的订单|订单)$")
_HELP = re.compile(r"^(帮助|菜单|help|\?|？|功能)$", re.I)


@on_message("text")
def text(message: Any, ctx: Context) -> list[Reply]:
    return answer_text(str(message.content or ""), ctx)


def answer_text(raw: str, ctx: Context) -> list[Reply]:
    content = raw.strip()[:MAX_TEXT]
    if not content:
        return [Text(messages.HELP)]
    conv = load_conversation(ctx)
    faq = ctx.services.faq
    faq.reload()

    if conv.faq_suggestions:
        picked = faq.pick(conv.faq_suggestions, content, _profile(ctx, conv))
        conv.faq_suggestions = []
        if picked is not None:
            save_conversation(ctx, conv)
            return [Text(picked.text)]

    in_form = conv.dialog is not None and not conv.dialog.paused and conv.dialog.pending is None
    if in_form and _PROGRESS.match(content):
        # A service word typed mid-form is never taken as a field value: answer it, then ask again.
        save_conversation(ctx, conv)
        return my_applications(ctx) + [Text(r) for r in dialogs.reprompt(conv.dialog, _dialog_context(ctx))]

    result = dialogs.handle(conv.dialog, content, _dialog_context(ctx))
    if result.claimed:
        conv.dialog = result.state
        replies: list[Reply] = [Text(r) for r in result.replies]
        replies += _apply_effects(result.effects, ctx, conv)
        save_conversation(ctx, conv)
        return replies

    if _HANDOFF.match(content):
        save_conversation(ctx, conv)
        return handoff(ctx)
    if _PROGRESS.match(content):
        save_conversation(ctx, conv)
        return my_applications(ctx)
    if _HELP.match(content):
        save_conversation(ctx, conv)
        return [Text(messages.HELP)]

    reply = faq.ask(content, _profile(ctx, conv))
    conv.faq_suggestions = list(reply.suggestions) if reply.outcome == "suggest" else []
    save_conversation(ctx, conv)
    return [Text(reply.text)]


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
    return [Text("\n".join(lines))]


def handoff(ctx: Context) -> list[Reply]:
    return [Transfer(ctx.services.settings.wechat_kf_account), Text(messages.HANDOFF_PENDING)]


def _dialog_context(ctx: Context) -> dialogs.DialogContext:
    return dialogs.DialogContext(
        today=ctx.now.date(),
        now=ctx.now,
        faq=ctx.services.faq.hook,
        agreements_url=f"{ctx.services.settings.base_url}/agreements",
    )


def _apply_effects(effects: list[object], ctx: Context, conv: Conversation) -> list[Reply]:
    out: list[Reply] = []
    for effect in effects:
        if isinstance(effect, dialogs.Submit):
            record = _create_record(ctx, effect.application)
            conv.latest_application = record.number
            out += [Text(r) for r in dialogs.submitted_replies(effect.application, record.number)]
        elif isinstance(effect, dialogs.Handoff):
            out += handoff(ctx)
    return out


def _create_record(ctx: Context, application: dialogs.Application) -> ApplicationRecord:
    store = ctx.services.store
    number = store.new_application_number("SZ", ctx.now.strftime("%Y%m%d"))
    data = application.model_dump(mode="json")
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
    )
    store.save_record(record)
    return record


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
