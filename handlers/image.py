"""Photos: during the form, OCR fills the section being asked; after it, a document for the application.
Both take seconds, so the handler answers at once and a job does the work and pushes the result."""

from __future__ import annotations

from typing import Any

from bot import jobs, messages
from bot.replies import Reply, Text, Transfer
from handlers import Context, on_message
from handlers.documents import upload_target
from handlers.text import load_conversation, save_conversation, with_agent


@on_message("image")
def image(message: Any, ctx: Context) -> list[Reply]:
    conv = load_conversation(ctx)
    if with_agent(ctx, conv):
        save_conversation(ctx, conv)
        return [Transfer(ctx.services.settings.wechat_kf_account)]
    media_id = str(getattr(message, "media_id", "") or "")
    key = ctx.turn.message_id
    if not media_id:
        return [Text(messages.IMAGE_RECEIVED)]
    if conv.in_form and conv.dialog is not None and conv.dialog.cursor:
        jobs.enqueue(ctx.services.queue, jobs.autofill_from_photo, ctx.openid, media_id, conv.dialog.cursor, key)
        return [Text(messages.OCR_READING)]
    record = upload_target(ctx, conv)
    if record is not None and record.status == "payment" and (record.data.get("payment") or {}).get("method") == "transfer":
        jobs.enqueue(ctx.services.queue, jobs.receive_voucher, ctx.openid, record.number, media_id, key)
        return [Text(messages.DOC_CHECKING)]
    if record is not None:
        jobs.enqueue(ctx.services.queue, jobs.receive_document, ctx.openid, record.number, media_id, key)
        return [Text(messages.DOC_CHECKING)]
    return [Text(messages.IMAGE_RECEIVED)]
