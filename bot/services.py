"""The process-wide objects built once from settings: Redis, the store, the WeChat API client, the job queue,
the FAQ.  Web workers and job workers build the same thing, so a job runs exactly like the web code."""

from __future__ import annotations

import threading
from pathlib import Path
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import redis
from rq import Queue

from bot.config import Settings
from bot.files import FileStore, LocalFileStore
from bot.links import Links
from bot.providers.liveness import Liveness, make_liveness
from bot.providers.ocr import Ocr, make_ocr
from bot.providers.pay import Pay, make_pay
from bot.providers.wechat import ApiClient
from bot.store import Store, connect

if TYPE_CHECKING:
    from faq import Faq

QUEUE_NAME = "bot"


@dataclass
class Services:
    settings: Settings
    redis: redis.Redis
    store: Store
    _faq_lock: threading.Lock = field(default_factory=threading.Lock)

    @cached_property
    def wechat(self) -> ApiClient:
        s = self.settings
        return ApiClient(s.wechat_app_id, s.wechat_app_secret, s.api_base_url, self.redis, timeout=s.wechat_timeout_s)

    @cached_property
    def queue(self) -> Queue:
        from bot.jobs import BotQueue

        return BotQueue(QUEUE_NAME, connection=self.redis, default_timeout=120,
                        retry_intervals=self.settings.job_retry_intervals_s)

    @cached_property
    def files(self) -> FileStore:
        return LocalFileStore(Path(self.settings.data_dir) / "files")

    @cached_property
    def links(self) -> Links:
        return Links(self.settings.signing_key, self.settings.base_url)

    @cached_property
    def liveness(self) -> Liveness:
        return make_liveness(self.settings, self.redis)

    @cached_property
    def pay(self) -> Pay:
        return make_pay(self.settings)

    @cached_property
    def ocr(self) -> Ocr:
        return make_ocr(self.settings)

    @cached_property
    def faq(self) -> "Faq":
        from faq import Faq

        return Faq(Path(self.settings.faq_path) if self.settings.faq_path else None)


_current: Services | None = None
_current_lock = threading.Lock()


def build(settings: Settings) -> Services:
    client = connect(settings)
    return Services(settings=settings, redis=client, store=Store(client, settings))


def install(services: Services) -> Services:
    """Make these the services jobs in this process use."""
    global _current
    with _current_lock:
        _current = services
    return services


def current() -> Services:
    global _current
    with _current_lock:
        if _current is None:
            from bot.config import load_settings

            _current = build(load_settings())
        return _current
