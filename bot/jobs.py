"""Work that must not hold up the 5-second callback answer: pushes through the customer-service API.
Runs on RQ (`szca-bot worker`); with the embedded Redis, on a worker thread inside the serving process.

Delivery is at least once: a send is leased (a Redis mark naming the process), the lease becomes "sent" after
WeChat's answer, and a run that finds the lease of a dead process sends again.  WeChat's send has no
idempotency key, so a process killed (or a read timed out) after WeChat took the message but before the
"sent" mark sends it twice; a doubled notice is better than a lost one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import requests
from rq import Queue, Retry, SimpleWorker, Worker
from rq.exceptions import NoSuchJobError
from rq.executions import Execution
from rq.job import Job, JobStatus
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
PUSH_MARK_TTL_S = 2 * 24 * 3600
SENDING, SENT = "sending", "sent"
# A send lease outlives any live send: two calls and a token refresh, each bounded by the client's timeout.
LEASE_S = 60
# RQ cleans its registries every 10 minutes by default; a dead machine's jobs and its scheduler lock would wait
# that long.  Cleaning is a handful of Redis calls.
MAINTENANCE_INTERVAL_S = 60


class BotQueue(Queue):
    """The bot's queue: every job carries the retry policy of the settings (tests shorten the back-off)."""

    def __init__(self, *args: Any, retry_intervals: Sequence[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry = Retry(max=len(retry_intervals), interval=list(retry_intervals))


def enqueue(queue: BotQueue, fn: Any, *args: Any) -> None:
    # RQ logs a job's description, by default the call with its arguments: message texts, mobiles, OCR'd ID
    # numbers. Name the function only.
    queue.enqueue(fn, *args, retry=queue.retry, description=f"{fn.__module__}.{fn.__name__}")


# --- at least once, and no more than that -------------------------------------------------------------------

def host_identity() -> str | None:
    """This boot of this machine and this PID namespace: where a PID names one process.  None without /proc."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return f"{boot}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def process_gone(identity: str | None, pid: int) -> bool:
    """Provably dead: on this machine (same identity) and the PID is free or a zombie.  A reused PID reads as
    alive, which only delays recovery to RQ's own heartbeat expiry."""
    if identity is None or identity != host_identity() or pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _holder() -> str:
    return f"{host_identity()}|{os.getpid()}"


def _holder_gone(holder: str) -> bool:
    identity, _, pid = holder.rpartition("|")
    return pid.isdigit() and process_gone(identity, int(pid))


# Take the mark over from a dead holder only if it still names that holder: two re-runs cannot both win.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


def claim(client: redis.Redis, mark: str) -> str | None:
    """Lease `mark` for one send: None when this run is to send, else the mark's final state ("sent", or a
    kept failure).  A lease held by a live run is waited out; one held by a dead process is taken over."""
    lease = f"{SENDING} {_holder()}"
    deadline = time.monotonic() + LEASE_S + 5
    while True:
        if client.set(mark, lease, nx=True, ex=LEASE_S):
            return None
        state = (client.get(mark) or b"").decode()
        if state and not state.startswith(f"{SENDING} "):
            return state  # final, or a bare "sending" of the at-most-once marks before leases
        if state and _holder_gone(state.partition(" ")[2]) and client.eval(_TAKE_OVER, 1, mark, state, lease, LEASE_S):
            log.info("took over the send of a dead process")
            return None
        if time.monotonic() > deadline:
            raise TimeoutError("a send lease was held past its expiry")
        time.sleep(0.2)


def settle(client: redis.Redis, mark: str, state: str, ttl_s: int) -> None:
    client.set(mark, state, ex=ttl_s)


def release(client: redis.Redis, mark: str) -> None:
    """The send failed in a way worth retrying: the next run sends."""
    client.delete(mark)


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
    digest = hashlib.sha256(data).hexdigest()
    # These very bytes already kept (this job run again after a crash, the photo sent twice) are that document,
    # not the next missing one.  One document missing: that is what the user is sending (fewer questions);
    # otherwise only a sure recognition decides, and the user is asked.
    kept = next((d for d, u in record.uploads.items() if u.sha256 == digest), None)
    doc = kept or (left[0] if len(left) == 1 else documents.recognise(svc.ocr, record, data, candidates))
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
    """Send each reply once, in order: a lease per reply (see `claim`) means a job that runs twice (retry,
    two workers, a worker killed mid-job) does not send a reply twice."""
    svc = services_mod.current()
    sent = 0
    for index, wire in enumerate(replies):
        mark = f"pushed:{{{openid}}}:{key}:{index}"
        if claim(svc.redis, mark) is not None:
            continue
        try:
            _send(svc, openid, from_wire(wire))
        except WeChatClientException as exc:
            if exc.errcode in PERMANENT_ERRORS:
                log.warning("push to %s dropped: WeChat error %s", hash_openid(openid), exc.errcode)
                settle(svc.redis, mark, f"wechat {exc.errcode}", PUSH_MARK_TTL_S)
                continue
            release(svc.redis, mark)
            raise
        except requests.RequestException:
            # A read timeout may follow a delivered message: sending again risks a double, not sending a loss.
            release(svc.redis, mark)
            raise
        settle(svc.redis, mark, SENT, PUSH_MARK_TTL_S)
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


class BotWorker(Worker):
    """RQ's forking worker that also re-runs, at start-up and every maintenance pass, the jobs of workers that
    provably died (SIGKILL, OOM): RQ alone waits for their heartbeat to expire and its next 10-minute pass."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL_S)
        super().__init__(*args, **kwargs)

    def register_birth(self) -> None:
        super().register_birth()
        self.connection.hset(self.key, "host_identity", host_identity() or "")

    def fork_work_horse(self, job: Job, queue: Queue) -> None:
        super().fork_work_horse(job, queue)
        # The horse leads its own process group and outlives a killed worker: recovery must see it gone too.
        self.connection.hset(self.key, "horse_pid", self.horse_pid)

    def run_maintenance_tasks(self) -> None:
        for queue in self.queues:
            recover_abandoned(queue)
        super().run_maintenance_tasks()


def _worker_gone(client: redis.Redis, worker_name: str) -> bool:
    info = {k.decode(): v.decode() for k, v in client.hgetall(f"{Worker.redis_worker_namespace_prefix}{worker_name}").items()}
    if not info:
        return False  # expired or never ours: RQ's heartbeat expiry decides
    identity = info.get("host_identity") or None
    pids = [int(info[k]) for k in ("pid", "horse_pid") if info.get(k, "").isdigit()]
    return bool(pids) and all(process_gone(identity, pid) for pid in pids)


def recover_abandoned(queue: Queue) -> list[str]:
    """Requeue at once the started jobs whose worker is provably dead, spending one retry each (a job that
    kills its worker every time still ends); returns their ids.  Removing the registry entry is the claim,
    so two workers recovering at once requeue a job once."""
    registry = queue.started_job_registry
    client = queue.connection
    recovered = []
    for job_id, execution_id in registry.get_job_and_execution_ids(cleanup=False):
        try:
            execution = Execution.fetch(execution_id, job_id, connection=client)
            job = Job.fetch(job_id, connection=client)
        except (ValueError, NoSuchJobError):
            continue  # finished and cleaned meanwhile
        if not execution.worker_name or not _worker_gone(client, execution.worker_name):
            continue
        if job.get_status() != JobStatus.STARTED or not job.retries_left:
            continue  # no retries left: RQ's own cleanup records the failure
        if not client.zrem(registry.key, execution.composite_key):
            continue  # another worker recovered it
        job.retries_left -= 1
        queue.enqueue_job(job, at_front=True)
        log.warning("job %s of dead worker %s requeued, %s retries left", job_id, execution.worker_name,
                    job.retries_left)
        recovered.append(job_id)
    return recovered


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
