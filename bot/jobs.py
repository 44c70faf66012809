"""Work that must not hold up the 5-second callback answer: pushes through the customer-service API.
Runs on RQ (`szca-bot worker`); with the embedded Redis, on a worker thread inside the serving process."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
from rq import Queue, Retry, SimpleWorker
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from wechatpy.exceptions import WeChatClientException

from bot import services as services_mod
from bot.replies import Image, News, Reply, Text, Transfer, from_wire, to_wire
from bot.store import hash_openid

log = logging.getLogger(__name__)

# WeChat answers these when a push can never succeed; retrying would only delay the others.
PERMANENT_ERRORS = frozenset({43004, 45015, 45047, 40003})
RETRY = Retry(max=4, interval=[2, 10, 30, 120])
PUSH_MARK_TTL_S = 2 * 24 * 3600


def enqueue_push(queue: Queue, openid: str, replies: list[Reply], key: str) -> None:
    if replies:
        queue.enqueue(push_replies, openid, [to_wire(r) for r in replies], key, retry=RETRY)


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
        if media_id is None and reply.path:
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
