"""The chat side of the documents step: which application a photo belongs to, and the user's answer to
"这张是：1 申请表 2 营业执照 …"."""

from __future__ import annotations

import re

from bot import documents, messages, steps
from bot.conversation import Conversation
from bot.records import ApplicationRecord
from bot.replies import Reply, Text
from bot.uploads import Checked
from handlers import Context

_NOT_ANY = re.compile(r"^(都不是|不是|不要了|取消|算了)$")


def upload_target(ctx: Context, conv: Conversation) -> ApplicationRecord | None:
    """The user's latest application while it still takes documents."""
    if not conv.latest_application:
        return None
    record = ctx.services.store.record(conv.latest_application)
    if record is None or record.openid != ctx.openid or record.status not in documents.OPEN_FOR_UPLOADS:
        return None
    return record if documents.required(record) else None


def acknowledgement(record: ApplicationRecord, doc: str, changed: bool, replaced: bool) -> str:
    template = messages.DOC_REPLACED if replaced else messages.DOC_ACCEPTED if changed else messages.DOC_SAME
    return template.format(name=documents.short_name(doc)) + documents.still_needed_text(record)


def place_pending(ctx: Context, conv: Conversation, text: str) -> list[Reply] | None:
    """The answer to "这张是…？"; None when the text is not an answer (it is then handled as usual)."""
    pending = conv.pending_upload
    assert pending is not None
    files = ctx.services.files
    if _NOT_ANY.match(text.strip()):
        files.delete_prefix(pending.key)
        conv.pending_upload = None
        return [Text(messages.DOC_PENDING_DROPPED)]
    doc = documents.parse_choice(text, pending.options)
    if doc is None:
        return None
    conv.pending_upload = None
    data = files.get(pending.key)
    if data is None:
        return [Text(messages.DOC_PENDING_GONE)]
    had = ctx.services.store.record(pending.number)
    try:
        record, changed = documents.accept(
            ctx.services.store, files, pending.number, doc, data, Checked(pending.kind, len(data)), ctx.now,
            ctx.services.settings.retention_days,
        )
    except documents.UploadsClosed:
        return [Text(messages.DOC_CLOSED)]
    finally:
        files.delete_prefix(pending.key)
    replaced = changed and had is not None and doc in had.uploads
    return [Text(acknowledgement(record, doc, changed, replaced))] + steps.documents_complete(ctx.services, record, ctx.now)
