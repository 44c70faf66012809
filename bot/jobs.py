"""Work that must not hold up the 5-second callback answer: pushes through the customer-service API.
Runs on RQ (`szca-bot worker`); with the embedded Redis, on a worker thread inside the serving process."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from datetime import datetime
from typing import Any

import requests
from rq import Queue, Retry, SimpleWorker
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from wechatpy.exceptions import WeChatClientException

import dialogs
from bot import documents, messages, steps, uploads
from bot import services as services_mod
from bot.conversation import Conversation, PendingUpload, dialog_context
from bot.providers.ocr import OcrError, OcrUnreadable
from bot.providers.wechat import MediaError, download_media
from bot.replies import Image, News, Reply, Text, Transfer, from_wire, to_wire
from bot.store import hash_openid
from bot.records import ApplicationRecord
from bot.uploads import Checked

log = logging.getLogger(__name__)

# WeChat answers these when a push can never succeed; retrying would only delay the others.
PERMANENT_ERRORS = frozenset({43004, 45015, 45047, 40003})
RETRY = Retry(max=4, interval=[2, 10, 30, 120])
PUSH_MARK_TTL_S = 2 * 24 * 3600


def enqueue(queue: Queue, fn: Any, *args: Any) -> None:
    # RQ logs a job's description, by default the call with its arguments: message texts, mobiles, OCR'd ID
    # numbers. Name the function only.
    queue.enqueue(fn, *args, retry=RETRY, description=f"{fn.__module__}.{fn.__name__}")


def enqueue_push(queue: Queue, openid: str, replies: list[Reply], key: str) -> None:
    if replies:
        enqueue(queue, push_replies, openid, [to_wire(r) for r in replies], key)


def _push_texts(svc: services_mod.Services, openid: str, texts: list[str], key: str) -> None:
    enqueue_push(svc.queue, openid, [Text(t) for t in texts if t], key)


def _fetch_photo(svc: services_mod.Services, openid: str, media_id: str, key: str) -> tuple[bytes, Checked] | None:
    """The user's photo, checked like an upload in the hall; on a final failure the user is told why."""
    try:
        data = download_media(svc.wechat, media_id)
    except (MediaError, WeChatClientException) as exc:
        if isinstance(exc, WeChatClientException) and exc.errcode not in (40007, 40008, None):
            raise  # a transient API failure: RQ retries the job
        _push_texts(svc, openid, [messages.DOC_DOWNLOAD_FAILED], f"{key}-fetch")
        return None
    try:
        return data, uploads.inspect(data)
    except uploads.UploadRejected as rejected:
        _push_texts(svc, openid, [rejected.message], f"{key}-fetch")
        return None


def _photo_for(svc: services_mod.Services, openid: str, number: str, media_id: str,
               key: str) -> tuple[ApplicationRecord, bytes, Checked] | None:
    """The user's own application and the checked photo for it; None when either is not there."""
    record = svc.store.record(number)
    if record is None or record.openid != openid:
        return None
    fetched = _fetch_photo(svc, openid, media_id, key)
    return None if fetched is None else (record, *fetched)


def receive_document(openid: str, number: str, media_id: str, key: str) -> str | None:
    """A photo sent after the form: check it, find out which document it is, keep it, say what's missing."""
    svc = services_mod.current()
    got = _photo_for(svc, openid, number, media_id, key)
    if got is None:
        return None
    record, data, checked = got
    left = documents.missing(record)
    candidates = left or documents.required(record)
    # One document missing: that is what the user is sending (fewer questions); otherwise only a sure
    # recognition decides, and the user is asked.
    doc = left[0] if len(left) == 1 else documents.recognise(svc.ocr, record, data, candidates)
    if doc is None:
        _keep_aside(svc, openid, number, key, data, checked, candidates)
        _push_texts(svc, openid, [documents.choice_question(candidates)], f"{key}-doc")
        return "asked"
    had = doc in record.uploads
    try:
        record, changed = documents.accept(svc.store, svc.files, number, doc, data, checked, datetime.now(),
                                           svc.settings.retention_days)
    except documents.UploadsClosed:
        _push_texts(svc, openid, [messages.DOC_CLOSED], f"{key}-doc")
        return None
    from handlers.documents import acknowledgement  # the chat wording lives with the chat side

    replies: list[Reply] = [Text(acknowledgement(record, doc, changed, had and changed))]
    replies += steps.documents_complete(svc, record, datetime.now())
    enqueue_push(svc.queue, openid, replies, f"{key}-doc")
    return doc


def receive_voucher(openid: str, number: str, media_id: str, key: str) -> str | None:
    """The corporate-transfer voucher: checked like a document, kept, and the application waits for finance."""
    svc = services_mod.current()
    got = _photo_for(svc, openid, number, media_id, key)
    if got is None:
        return None
    _, data, checked = got
    digest = hashlib.sha256(data).hexdigest()
    file_key = f"apps/{number}/transfer_voucher-{digest[:12]}.{checked.extension}"
    svc.files.put(file_key, data)
    now = datetime.now()

    def keep(r: ApplicationRecord) -> None:
        r.data["payment"] = {**(r.data.get("payment") or {}), "voucher": file_key, "voucher_at": now.isoformat()}
        r.updated_at = now

    svc.store.update_record(number, keep)
    _push_texts(svc, openid, [messages.PAY_VOUCHER_RECEIVED], f"{key}-voucher")
    return file_key


def _keep_aside(svc: services_mod.Services, openid: str, number: str, key: str, data: bytes, checked: Checked,
                options: list[str]) -> None:
    stash = f"pending/{number}/{key.replace(':', '-')}.{checked.extension}"
    svc.files.put(stash, data)
    with svc.store.conversation(openid) as turn:
        conv = Conversation.parse(turn.load())
        if conv.pending_upload is not None and conv.pending_upload.key != stash:
            svc.files.delete_prefix(conv.pending_upload.key)
        conv.pending_upload = PendingUpload(number=number, key=stash, kind=checked.kind, options=options)
        turn.save(conv.dump())


def autofill_from_photo(openid: str, media_id: str, cursor: str, key: str) -> str | None:
    """A photo sent during the form: read the licence or ID card of the section being asked and offer the
    values for one "是" (each validated like typed input by the dialogue)."""
    svc = services_mod.current()
    section = cursor.rsplit(".", 1)[0]
    fetched = _fetch_photo(svc, openid, media_id, key)
    if fetched is None:
        return None
    data, _ = fetched
    try:
        if section == "unit":
            lic = svc.ocr.licence(data)
            values = {"unit.name": lic.name, "unit.id_number": lic.uscc, "unit.address": lic.address,
                      "legal.name": lic.legal_person}
            source = "营业执照"
        elif section in ("legal", "handler", "person") or section.startswith("applicants."):
            front = svc.ocr.id_front(data)
            values = {f"{section}.name": front.name, f"{section}.id": front.id_number}
            source = "身份证"
        else:
            _push_texts(svc, openid, [messages.AUTOFILL_NOT_HERE], f"{key}-ocr")
            return None
    except OcrError as exc:
        log.info("OCR gave nothing for %s: %s", hash_openid(openid), type(exc).__name__)
        _push_texts(svc, openid, [exc.user_message], f"{key}-ocr")
        return None
    found = {k: v for k, v in values.items() if v}
    if not found:
        _push_texts(svc, openid, [OcrUnreadable.user_message], f"{key}-ocr")
        return None
    # OCR ran outside the lock (it takes seconds); only applying the offer holds the user's lock.
    with svc.store.conversation(openid) as turn:
        conv = Conversation.parse(turn.load())
        if not conv.in_form or conv.dialog is None:
            return None  # the form was finished or dropped meanwhile
        ctx = dialog_context(svc.settings.base_url, svc.faq.hook, datetime.now())
        result = dialogs.offer(conv.dialog, found, ctx, source=source)
        conv.dialog = result.state if result.claimed else conv.dialog
        turn.save(conv.dump())
    _push_texts(svc, openid, result.replies, f"{key}-ocr")
    return source


def push_replies(openid: str, replies: list[dict[str, Any]], key: str) -> int:
    """Send each reply once, in order.  A mark per reply, taken before sending and dropped on failure,
    means a job that runs twice (retry, or two workers) never sends the same reply twice."""
    svc = services_mod.current()
    sent = 0
    for index, wire in enumerate(replies):
        mark = f"pushed:{{{openid}}}:{key}:{index}"
        if not svc.redis.set(mark, b"1", nx=True, ex=PUSH_MARK_TTL_S):
            continue
        try:
            _send(svc, openid, from_wire(wire))
        except WeChatClientException as exc:
            if exc.errcode in PERMANENT_ERRORS:
                log.warning("push to %s dropped: WeChat error %s", hash_openid(openid), exc.errcode)
                continue
            svc.redis.delete(mark)
            raise
        except requests.RequestException:
            svc.redis.delete(mark)
            raise
        sent += 1
    return sent


def _send(svc: services_mod.Services, openid: str, reply: Reply) -> None:
    api = svc.wechat
    if isinstance(reply, Text):
        api.message.send_text(openid, reply.content)
    elif isinstance(reply, Image):
        media_id = reply.media_id
        if media_id is None and reply.qr:
            media_id = api.media.upload("image", ("qr.png", qr_png(reply.qr), "image/png"))["media_id"]
        elif media_id is None and reply.path:
            with open(reply.path, "rb") as fh:
                media_id = api.media.upload("image", fh)["media_id"]
        api.message.send_image(openid, media_id)
    elif isinstance(reply, News):
        api.message.send_articles(
            openid,
            [{"title": a.title, "description": a.description, "url": a.url, "image": a.image} for a in reply.articles],
        )
    elif isinstance(reply, Transfer):
        pass  # only meaningful as a passive reply


def qr_png(url: str) -> bytes:
    """A QR code of a link, big enough to scan from a phone held to a PC screen."""
    import io

    import qrcode

    img = qrcode.make(url, box_size=8, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class ThreadWorker(SimpleWorker):
    """RQ's in-process worker, minus what needs the main thread: signal handlers and SIGALRM timeouts."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:  # noqa: D401 - RQ hook
        return None


def start_embedded_worker(svc: services_mod.Services) -> threading.Thread:
    """The embedded default's job runner: the same RQ queue and job code, on daemon threads."""

    def work() -> None:
        while True:
            try:
                ThreadWorker([svc.queue], connection=svc.redis).work(logging_level="WARNING")
            except Exception:  # keep the embedded runner alive whatever one job does
                log.exception("embedded job runner failed; restarting it")
            time.sleep(1)

    def schedule() -> None:
        # RQ's scheduler forks a process, which cannot share an in-process Redis: drive it from a thread.
        scheduler = RQScheduler([svc.queue], connection=svc.redis)
        logging.getLogger("rq.scheduler").setLevel(logging.WARNING)
        while True:
            try:
                if not scheduler.acquired_locks:
                    scheduler.acquire_locks()
                scheduler.enqueue_scheduled_jobs()
            except Exception:
                log.exception("embedded scheduler failed; continuing")
            time.sleep(1)

    for target in (work, schedule):
        thread = threading.Thread(target=target, name=f"embedded-{target.__name__}", daemon=True)
        thread.start()
    return thread
