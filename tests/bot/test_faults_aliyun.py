"""Aliyun slow or failing, through the real SDK against local fakes: OCR during the form (the user is told to
type the values, and can), face verification on the identity page (a bounded answer naming the hotline, the
application untouched), SMS notices (recorded as failed, the worker not held up). Never a 500, never a hang."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any, Iterator

import pytest
import redis as redis_lib
import requests

from bot import messages, notify
from bot import services as services_mod
from bot.providers.ocr import UNAVAILABLE_MESSAGE
from bot.simclient import WeChatUser
from tests.bot.test_application_http import CASES
from tests.bot.test_documents_http import _answer_until, _last_id, _pushed_after, _plain_photo
from tests.bot.test_faults_redis import dialog, timed
from tests.bot.test_identity_http import _jpeg, _submit, at_identity_step
from tests.bot.test_liveness import FakeCloudauth
from tests.bot.test_notify import FakeDysms, application
from tests.bot.test_ocr_aliyun import BACK_DATA, FakeOcrApi
from tests.conftest import DATA_DIR, make_settings, upload_media, wait_for
from tests.dialogs.conftest import HANDLER_ID, TYPICAL
from tests.support.faults import JobStack
from tests.support.fake_aliyun import FakeRpcApi
from tests.support.servers import RedisProcess
from tests.support.synthetic_docs import SyntheticDoc

AK_ID = "LTAI5tFaultsKeyId012345"
AK_SECRET = "fake-faults-secret-0123456789"
KEYS = {"aliyun_access_key_id": AK_ID, "aliyun_access_key_secret": AK_SECRET}
TIMEOUT_S = 1.0  # the read timeout the tests configure; the fakes' slow answers take longer
ANSWERS = {**TYPICAL, **CASES["org"]}

# The three ways an Aliyun gateway lets a caller down: too slow, a server error, flow control.
FAULTS = {
    "slow": None,
    "server_error": (503, "ServiceUnavailable", "The request has failed due to a temporary failure of the server."),
    "throttled": (400, "Throttling.User", "Request was denied due to user flow control."),
}


def inject(fake: FakeRpcApi, fault: str) -> None:
    if fault == "slow":
        fake.delay_s = TIMEOUT_S + 2
    else:
        fake.error = FAULTS[fault]


def env(settings: dict[str, Any]) -> dict[str, str]:
    return {k.upper(): str(v) for k, v in settings.items()}


# --- OCR while filling in the form ---------------------------------------------------------------------------

@pytest.fixture
def ocr() -> Iterator[FakeOcrApi]:
    with FakeOcrApi({AK_ID: AK_SECRET}) as fake:
        yield fake


@pytest.fixture
def ocr_stack(make_live, ocr: FakeOcrApi) -> Iterator[JobStack]:
    settings = {**KEYS, "aliyun_ocr_endpoint": ocr.url, "aliyun_ocr_timeout_s": TIMEOUT_S}
    stack = JobStack(make_live, DATA_DIR, **settings)
    stack.start_worker(**env(settings))
    yield stack
    stack.close()


@pytest.mark.parametrize("fault", FAULTS)
def test_ocr_failing_during_the_form_says_type_the_values_and_typing_goes_on(ocr_stack, ocr, fault):
    app = ocr_stack.server
    client = redis_lib.Redis.from_url(ocr_stack.redis.url)
    user = WeChatUser(app.url)
    user.text("申请证书")
    _answer_until(user, client, ANSWERS, "unit.name")
    inject(ocr, fault)
    seen = _last_id(user)
    media_id = upload_media(app.url, _plain_photo(7))
    started = time.monotonic()
    reply = user.image(media_id)
    assert reply.status == 200 and "正在识别" in reply.text and time.monotonic() - started < 5
    pushed = _pushed_after(user, seen, "直接输入", timeout=15)
    assert pushed == UNAVAILABLE_MESSAGE
    assert time.monotonic() - started < 10  # bounded by the configured timeout, not by the gateway
    assert len(ocr.requests) == 1  # no SDK retry, no job retry: the user was already told
    # nothing was filled in; typing the value is taken as usual and the next field is asked
    assert dialog(client, user.openid)["cursor"] == "unit.name"
    assert user.text(ANSWERS["unit.name"]).status == 200
    after = dialog(client, user.openid)
    assert after["answers"]["unit.name"] == ANSWERS["unit.name"] and after["cursor"] != "unit.name"


# --- face verification on the identity page ------------------------------------------------------------------

@pytest.fixture
def identity_app(make_live, ocr: FakeOcrApi) -> Iterator[tuple[Any, FakeCloudauth, redis_lib.Redis]]:
    """An app with Aliyun OCR and face verification, on a Redis of its own: the pushes its steps queue must
    not reach the session worker's queue (nor the shared emulator's injected faults)."""
    # The ID card the applicant photographs is the handler's of the form.
    ocr.replies["RecognizeIdcard"] = {"data": {"face": {"data": {"name": TYPICAL["handler.name"],
                                                                 "idNumber": HANDLER_ID}},
                                               "back": BACK_DATA["data"]["back"]}}
    private = RedisProcess.start_new()
    installed = services_mod.current()  # creating an app installs its services: put them back after
    with FakeCloudauth({AK_ID: AK_SECRET}) as cloudauth:
        yield make_live(**KEYS, redis_url=private.url, aliyun_ocr_endpoint=ocr.url, aliyun_ocr_timeout_s=TIMEOUT_S,
                        aliyun_face_scene_id=1000001, aliyun_cloudauth_endpoint=cloudauth.url,
                        aliyun_cloudauth_timeout_s=TIMEOUT_S), cloudauth, redis_lib.Redis.from_url(private.url)
    services_mod.install(installed)
    private.stop()


def handler() -> SyntheticDoc:
    return SyntheticDoc("id_front", b"", {"name": TYPICAL["handler.name"], "id_number": HANDLER_ID})


def assert_try_later(page: requests.Response, elapsed: float) -> None:
    assert page.status_code == 503, page.status_code
    assert "稍后再试" in page.text and messages.HOTLINE in page.text
    assert elapsed < TIMEOUT_S + 4


def assert_unchanged(app: Any, number: str, before: Any) -> None:
    after = app.services.store.record(number)
    assert after.status == "identity" and after.data.get("identity") == before.data.get("identity")


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("down", ["ocr", "cloudauth"])
def test_the_identity_page_with_aliyun_down_asks_to_try_later_and_changes_nothing(identity_app, ocr, down, fault):
    """With OCR down the photos are not blamed (no "retake them") and no face check is started."""
    app, cloudauth, client = identity_app
    _, number, url = at_identity_step(app, client, handler())
    before = app.services.store.record(number)
    inject(ocr if down == "ocr" else cloudauth, fault)
    started = time.monotonic()
    page = _submit(url, _jpeg(1), _jpeg(2))
    assert_try_later(page, time.monotonic() - started)
    assert "拍摄" not in page.text and (down == "cloudauth" or not cloudauth.requests)
    assert_unchanged(app, number, before)


@pytest.mark.parametrize("fault", FAULTS)
def test_liveness_result_unavailable_on_return_asks_to_try_later_and_changes_nothing(identity_app, fault):
    app, cloudauth, client = identity_app
    _, number, url = at_identity_step(app, client, handler())
    http = requests.Session()
    started_page = _submit(url, _jpeg(1), _jpeg(2), http)
    assert started_page.status_code == 303 and "antcloudauth" in started_page.headers["Location"]
    certify_id = app.services.store.record(number).data["identity"]["certify_id"]
    before = app.services.store.record(number)
    cloudauth.outcomes[certify_id] = ("T", "200")  # the face check passed, but its result cannot be fetched
    inject(cloudauth, fault)
    started = time.monotonic()
    page = http.get(f"{url}/done", params={"certify_id": certify_id})
    assert_try_later(page, time.monotonic() - started)
    assert_unchanged(app, number, before)
    # once Cloudauth answers again, the same return page completes the step
    cloudauth.error, cloudauth.delay_s = None, 0.0
    done = http.get(f"{url}/done", params={"certify_id": certify_id})
    assert done.status_code == 200 and app.services.store.record(number).status != "identity"


# --- SMS notices ---------------------------------------------------------------------------------------------

@pytest.fixture
def dysms() -> Iterator[FakeDysms]:
    with FakeDysms({AK_ID: AK_SECRET}) as fake:
        yield fake


@pytest.mark.parametrize("fault", FAULTS)
def test_sms_failing_records_the_notice_as_failed_and_the_worker_goes_on(make_live, dysms, fault):
    settings = {**KEYS, "aliyun_sms_sign_name": "深圳CA", "aliyun_sms_endpoint": dysms.url,
                "aliyun_sms_timeout_s": TIMEOUT_S}
    stack = JobStack(make_live, DATA_DIR, **settings)
    try:
        worker = stack.start_worker(**env(settings))
        # One retry, at once: enough to see a transient failure retried, short enough for a test.
        svc = services_mod.build(make_settings(stack.redis.url, stack.server.port, **settings,
                                               job_retry_intervals_s=[0]))
        record = application(svc)  # not seen in 48 h and no template id: the notice can only go by SMS
        inject(dysms, fault)
        started = time.monotonic()
        notify.notify(svc, record.number, "approved")

        def outcome() -> dict | None:
            done = svc.store.record(record.number).data.get("notifications")
            return done[-1] if done else None

        result = wait_for(outcome, timeout=20)
        assert result["channel"] == "failed" and "sms" in result["errors"]
        assert time.monotonic() - started < 2 * (TIMEOUT_S + 3) + 5  # two tries at most, each bounded
        assert len(dysms.requests) <= 2
        # the worker is free: the next notice, with Aliyun back, is sent at once
        dysms.error, dysms.delay_s = None, 0.0
        second = application(svc)
        notify.notify(svc, second.number, "approved")
        wait_for(lambda: (svc.store.record(second.number).data.get("notifications") or [{}])[-1].get("channel")
                 == "sms", timeout=15)
        assert worker.proc.poll() is None
    finally:
        stack.close()
