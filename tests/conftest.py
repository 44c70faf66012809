"""Shared fixtures: a real Redis (REDIS_URL, else a private redis-server), the app on a live HTTP server,
a WeChat user that sends signed callback XML, and a job worker process."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable, Iterator

import pytest
import redis as redis_lib

from bot.app import create_app
from bot.config import Settings
from bot.simclient import WeChatUser
from tests.support.servers import LiveServer, RedisProcess, WorkerProcess, free_port

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
STAFF_TOKEN = "staff-token-for-tests-0123456789"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = os.environ.get("REDIS_URL")
    if url:
        try:
            redis_lib.Redis.from_url(url).ping()
        except redis_lib.RedisError as exc:
            pytest.exit(f"REDIS_URL={url} does not answer: {exc}", returncode=3)
        yield url
        return
    server = RedisProcess.start_new()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> redis_lib.Redis:
    return redis_lib.Redis.from_url(redis_url)


DATA_DIR = tempfile.mkdtemp(prefix="szca-data-")  # the file store shared by the test app and the worker process


def make_settings(redis_url: str | None, port: int, **overrides: object) -> Settings:
    overrides.setdefault("data_dir", DATA_DIR)
    # Agents on duty around the clock unless a test says otherwise: results must not depend on the hour.
    overrides.setdefault("agent_weekdays", "1-7")
    overrides.setdefault("agent_hours", "00:00-24:00")
    overrides.setdefault("staff_tokens", {"alice": STAFF_TOKEN})
    # Scripted users send a whole form in a second or two; people don't. The limit has its own test.
    overrides.setdefault("rate_limit_messages", 1000)
    return Settings(redis_url=redis_url, port=port, log_level="INFO", **overrides)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def live(redis_url: str) -> Iterator[LiveServer]:
    port = free_port()
    server = LiveServer(create_app(make_settings(redis_url, port, wechat_aes_key=AES_KEY)), port)
    yield server
    server.close()


@pytest.fixture
def make_live(redis_url: str) -> Iterator[Callable[..., LiveServer]]:
    """Another app instance with its own settings (e.g. Redis unreachable)."""
    servers: list[LiveServer] = []

    def make(**overrides: object) -> LiveServer:
        port = free_port()
        url = overrides.pop("redis_url", redis_url)
        start_jobs = overrides.pop("start_jobs", None)
        server = LiveServer(create_app(make_settings(url, port, **overrides), start_jobs=start_jobs), port)  # type: ignore[arg-type]
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.close()


@pytest.fixture
def user(live: LiveServer) -> WeChatUser:
    return WeChatUser(live.url)


@pytest.fixture
def aes_user(live: LiveServer) -> WeChatUser:
    return WeChatUser(live.url, aes_key=AES_KEY)


@pytest.fixture(scope="session")
def worker(redis_url: str, live: LiveServer) -> Iterator[WorkerProcess]:
    proc = WorkerProcess(redis_url, f"{live.url}/emulator/cgi-bin/", {"DATA_DIR": DATA_DIR})
    yield proc
    proc.stop()


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, interval: float = 0.05) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def upload_media(base_url: str, data: bytes, filename: str = "photo.jpg", mimetype: str = "image/jpeg") -> str:
    """Put a file on the emulated WeChat media store, as a user's photo would be; returns its MediaId."""
    import requests

    token = requests.get(f"{base_url}/emulator/cgi-bin/token",
                         params={"appid": "wxdev0000000000000", "secret": "dev-secret"}).json()["access_token"]
    resp = requests.post(f"{base_url}/emulator/cgi-bin/media/upload", params={"access_token": token, "type": "image"},
                         files={"media": (filename, data, mimetype)})
    return resp.json()["media_id"]
