"""The WeChat API client against the emulator over HTTP: token in Redis, one refresh-and-retry, pushes.

These tests count the emulator's token fetches and token errors, so they run on an app of their own with its
own Redis: on the shared one, the session's job worker retrying another test's push would use up injected
token errors and change the counts."""

from __future__ import annotations

import uuid

import pytest
import requests
from wechatpy.exceptions import WeChatClientException

from bot import services as services_mod
from bot.providers.wechat import ApiClient
from tests.support.servers import RedisProcess

# Unique per run: the Redis (and so the emulator's outbox) may hold earlier runs' messages.
OPENIDS = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ("o-token-share", "o-token-retry", "o-token-fail", "o-token-expired")}


@pytest.fixture(scope="module")
def private_redis():
    server = RedisProcess.start_new()
    yield server
    server.stop()


@pytest.fixture
def live(private_redis, make_live):
    installed = services_mod.current()  # creating an app installs its services: put them back after
    yield make_live(redis_url=private_redis.url, start_jobs=False)
    services_mod.install(installed)


@pytest.fixture
def redis_client(live):
    return live.services.redis


@pytest.fixture
def api(live, redis_client):
    requests.post(f"{live.url}/emulator/_faults", json={})
    client = ApiClient(live.services.settings.wechat_app_id, live.services.settings.wechat_app_secret,
                       f"{live.url}/emulator/cgi-bin/", live.services.redis)
    yield client
    requests.post(f"{live.url}/emulator/_faults", json={})


def _stats(live):
    return requests.get(f"{live.url}/emulator/_stats").json()


def test_the_token_is_shared_through_redis(live, api):
    api.message.send_text(OPENIDS["o-token-share"], "一")
    other = ApiClient(api.appid, api.secret, api.API_BASE_URL, live.services.redis)
    before = _stats(live)["token"]
    other.message.send_text(OPENIDS["o-token-share"], "二")
    assert _stats(live)["token"] == before  # the second process-like client fetched no token of its own


def test_one_token_error_is_refreshed_and_retried_once(live, api):
    api.message.send_text(OPENIDS["o-token-retry"], "预热")
    before = _stats(live)
    requests.post(f"{live.url}/emulator/_faults", json={"token_errors": 1})
    api.message.send_text(OPENIDS["o-token-retry"], "刷新后送达")
    after = _stats(live)
    assert after["token"] == before["token"] + 1
    assert after["sent"] == before["sent"] + 1


def test_persistent_token_errors_fail_after_one_retry_not_forever(live, api):
    requests.post(f"{live.url}/emulator/_faults", json={"token_errors": 5})
    before = _stats(live)
    with pytest.raises(WeChatClientException) as err:
        api.message.send_text(OPENIDS["o-token-fail"], "x")
    assert err.value.errcode == 40001
    assert _stats(live)["token_error"] == before["token_error"] + 2


def test_an_expired_token_is_replaced(live, api, redis_client):
    api.message.send_text(OPENIDS["o-token-expired"], "一")
    for key in redis_client.scan_iter("emu:token:*"):
        redis_client.delete(key)  # WeChat expired every token
    api.message.send_text(OPENIDS["o-token-expired"], "二")
    assert [m["text"]["content"] for m in requests.get(f"{live.url}/emulator/_outbox", params={"to": OPENIDS["o-token-expired"]}).json()] == ["一", "二"]
