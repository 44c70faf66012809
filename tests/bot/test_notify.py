"""Status notices: template → customer-service → SMS against the WeChat emulator, the local SMS outbox and a fake
Aliyun SMS gateway; at most once per channel when the job runs twice; the outcome kept on the application."""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any, Iterator

import pytest
import redis as redis_lib
import requests

from bot import notify
from bot import services as services_mod
from bot.providers.sms import LOCAL_OUTBOX, AliyunSms, LocalSms, SmsFailed, SmsThrottled, SmsUnavailable, make_sms
from bot.records import ApplicationRecord
from bot.services import Services
from bot.store import last_seen_key
from tests.conftest import make_settings, wait_for
from tests.support.fake_aliyun import FakeRpcApi, assert_gives_up_fast, log_everything

AK_ID = "LTAI5tFakeSmsKey0123456"
AK_SECRET = "fake-sms-secret-0123456789"
MOBILE = "13912345678"
NO_PROXY = {"http": None, "https": None}


class FakeDysms(FakeRpcApi):
    """Dysmsapi 2017-05-25 SendSms: business results in the body's Code, HTTP 200."""

    version = "2017-05-25"

    def __init__(self, secrets_: dict[str, str]) -> None:
        super().__init__(secrets_)
        self.body_code: tuple[str, str] | None = None

    def actions(self) -> set[str]:
        return {"SendSms"}

    def answer_action(self, params: dict[str, str], body: bytes, request_id: str) -> tuple[int, dict[str, Any]]:
        if self.body_code:
            code, message = self.body_code
            return 200, {"RequestId": request_id, "Code": code, "Message": message}
        if not all(params.get(n) for n in ("PhoneNumbers", "SignName", "TemplateCode")):
            return 200, {"RequestId": request_id, "Code": "isv.MISSING_PARAMETER", "Message": "missing"}
        json.loads(params.get("TemplateParam") or "{}")
        return 200, {"RequestId": request_id, "Code": "OK", "Message": "OK", "BizId": "900619746936498440^0"}


@pytest.fixture
def fake() -> Iterator[FakeDysms]:
    with FakeDysms({AK_ID: AK_SECRET}) as server:
        yield server


def aliyun(fake: FakeDysms, secret: str = AK_SECRET, **options: Any) -> AliyunSms:
    return AliyunSms(AK_ID, secret, "深圳CA", endpoint=fake.url, proxy=NO_PROXY, **options)


# --- the SMS provider ---------------------------------------------------------------------------------------

def test_aliyun_sends_a_signed_sendsms(fake: FakeDysms) -> None:
    biz_id = aliyun(fake).send(MOBILE, "SMS_SZCA_APPROVED", {"project": "深圳公共资源交易"})
    assert biz_id == "900619746936498440^0"
    params = fake.requests[-1]["params"] | fake.requests[-1]["form"]
    assert (params["Action"], params["Version"], params["SignName"]) == ("SendSms", "2017-05-25", "深圳CA")
    assert json.loads(params["TemplateParam"]) == {"project": "深圳公共资源交易"}
    assert MOBILE not in fake.requests[-1]["params"].values()  # the number is in the signed body, not the URL


def test_aliyun_throttling_and_refusals(fake: FakeDysms) -> None:
    sms = aliyun(fake)
    fake.body_code = ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1")
    with pytest.raises(SmsThrottled):
        sms.send(MOBILE, "SMS_SZCA_APPROVED", {})
    fake.body_code = None
    fake.error = (400, "Throttling.User", "Request was denied due to user flow control.")
    with pytest.raises(SmsThrottled):
        sms.send(MOBILE, "SMS_SZCA_APPROVED", {})
    fake.error = None
    fake.body_code = ("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
    with pytest.raises(SmsFailed):
        sms.send(MOBILE, "SMS_SZCA_APPROVED", {})


def test_aliyun_gives_up_fast_without_sdk_retries(fake: FakeDysms) -> None:
    assert_gives_up_fast(fake, lambda: aliyun(fake, read_timeout=1).send(MOBILE, "SMS_SZCA_APPROVED", {}),
                         SmsUnavailable)


def test_neither_the_key_nor_the_mobile_reaches_the_logs(fake: FakeDysms, caplog: pytest.LogCaptureFixture,
                                                        capfd: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    log_everything(monkeypatch, caplog, "bot.providers.sms")
    aliyun(fake).send(MOBILE, "SMS_SZCA_APPROVED", {"project": "X"})
    # The gateway echoes its string-to-sign, with every body parameter, on a signature mismatch.
    with pytest.raises(SmsFailed):
        aliyun(fake, secret="wrong").send(MOBILE, "SMS_SZCA_APPROVED", {"project": "X"})
    fake.body_code = ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控")
    with pytest.raises(SmsThrottled):
        aliyun(fake).send(MOBILE, "SMS_SZCA_APPROVED", {})
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "PhoneNumbers" in logged and "AccessKeyId" in logged  # the SDK did log the echo ...
    for leaked in (AK_ID, AK_SECRET, MOBILE, "wrong&"):
        assert leaked not in logged  # ... masked


def test_make_sms_needs_credentials_and_a_sign_name(fake: FakeDysms, redis_client: redis_lib.Redis) -> None:
    keys = {"aliyun_access_key_id": AK_ID, "aliyun_access_key_secret": AK_SECRET}
    assert isinstance(make_sms(make_settings(None, 1, **keys), redis_client), LocalSms)
    chosen = make_sms(make_settings(None, 1, **keys, aliyun_sms_sign_name="深圳CA", aliyun_sms_endpoint=fake.url),
                      redis_client)
    assert isinstance(chosen, AliyunSms) and chosen.endpoint == fake.url


# --- delivery -----------------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def no_faults(live: Any) -> Iterator[None]:
    yield
    requests.post(f"{live.url}/emulator/_faults", json={})


def services(live: Any, redis_url: str, **overrides: object) -> Services:
    """The worker's services with other settings (template ids, SMS): deliver_with runs in the test process."""
    return services_mod.build(make_settings(redis_url, live.port, **overrides))


def application(svc: Services, seen_hours_ago: float | None = None) -> ApplicationRecord:
    openid = f"o-notify-{secrets.token_hex(6)}"
    now = datetime.now()
    record = ApplicationRecord(
        number=f"N{secrets.token_hex(6)}", openid=openid, status="approved", platform="深圳公共资源交易中心",
        cert_type="机构证书", created_at=now, updated_at=now,
        data={"platform_name": "深圳公共资源交易中心", "handler": {"name": "张三", "mobile": MOBILE}})
    svc.store.save_record(record)
    if seen_hours_ago is not None:
        svc.redis.set(last_seen_key(openid), int(time.time() - seen_hours_ago * 3600))
    return record


def outbox(live: Any, openid: str) -> list[dict[str, Any]]:
    return requests.get(f"{live.url}/emulator/_outbox", params={"to": openid}).json()


def sms_since(redis_client: redis_lib.Redis, before: int) -> list[dict[str, Any]]:
    return [json.loads(x) for x in redis_client.lrange(LOCAL_OUTBOX, before, -1)]


def outcomes(svc: Services, number: str) -> list[dict[str, Any]]:
    record = svc.store.record(number)
    assert record is not None
    return record.data.get("notifications", [])


def test_a_configured_template_goes_first_in_the_current_format(live: Any, redis_url: str) -> None:
    svc = services(live, redis_url, template_ids={"approved": "tmpl-approved"})
    record = application(svc, seen_hours_ago=1)
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1") == "template"
    [sent] = outbox(live, record.openid)
    assert sent["kind"] == "template" and sent["template_id"] == "tmpl-approved" and sent["touser"] == record.openid
    assert "first" not in sent["data"] and "remark" not in sent["data"]
    assert sent["data"]["character_string1"] == {"value": record.number}
    assert sent["data"]["thing2"]["value"].startswith("深圳公共资源交易中心")
    assert outcomes(svc, record.number)[-1]["channel"] == "template"


def test_without_a_template_id_a_customer_service_message_within_48_hours(live: Any, redis_url: str) -> None:
    svc = services(live, redis_url)
    record = application(svc, seen_hours_ago=47)
    params = {"reason": "身份证复印件未加盖公章", "fix": "请加盖公章后重新上传"}
    assert notify.deliver_with(svc, "rejected", record.openid, record.number, params, "k1") == "custom"
    [sent] = outbox(live, record.openid)
    assert sent["msgtype"] == "text" and "身份证复印件未加盖公章" in sent["text"]["content"]
    assert "请加盖公章后重新上传" in sent["text"]["content"]


def test_outside_the_window_the_handler_gets_the_sms_of_the_seeds(live: Any, redis_url: str,
                                                                   redis_client: redis_lib.Redis) -> None:
    svc = services(live, redis_url)
    record = application(svc, seen_hours_ago=49)
    before = redis_client.llen(LOCAL_OUTBOX)
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1") == "sms"
    assert outbox(live, record.openid) == []
    [sms] = sms_since(redis_client, before)
    assert sms["mobile"] == MOBILE and sms["template_code"] == "SMS_SZCA_APPROVED"
    assert sms["text"].startswith("【深圳CA】您好，您提交的深圳公共资源交易中心项目新申请业务已经审核通过。")
    outcome = outcomes(svc, record.number)[-1]
    assert outcome["channel"] == "sms" and outcome["errors"]["custom"].startswith("skipped")


@pytest.mark.parametrize("errcode", [45015, 43004])
def test_a_refused_wechat_push_falls_through_to_sms(live: Any, redis_url: str, redis_client: redis_lib.Redis,
                                                    errcode: int) -> None:
    svc = services(live, redis_url, template_ids={"shipped": "tmpl-shipped"})
    record = application(svc, seen_hours_ago=1)
    requests.post(f"{live.url}/emulator/_faults", json={"errcode": errcode})
    before = redis_client.llen(LOCAL_OUTBOX)
    params = {"carrier": "顺丰速运", "tracking_no": f"SF{secrets.randbelow(10**12):012d}"}
    assert notify.deliver_with(svc, "shipped", record.openid, record.number, params, "k1") == "sms"
    mine = [e for e in sms_since(redis_client, before) if e["params"].get("tracking_no") == params["tracking_no"]]
    assert len(mine) == 1 and "顺丰速运" in mine[0]["text"]
    outcome = outcomes(svc, record.number)[-1]
    assert outcome["errors"] == {"template": f"wechat {errcode}", "custom": f"wechat {errcode}"}


def test_sms_throttled_is_recorded_as_failed(live: Any, redis_url: str, fake: FakeDysms,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    svc = services(live, redis_url)
    monkeypatch.setattr(notify, "sms_for", lambda _svc: aliyun(fake))
    record = application(svc)  # never wrote: no customer-service window
    fake.body_code = ("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5")
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1") == "failed"
    outcome = outcomes(svc, record.number)[-1]
    assert outcome["channel"] == "failed" and outcome["errors"]["sms"] == "sms isv.BUSINESS_LIMIT_CONTROL"
    # A re-run of the job does not send again on a channel that already answered for good.
    fake.body_code = None
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1") == "failed"
    assert len(fake.requests) == 1


def test_a_transient_failure_raises_for_a_retry_and_then_sends_once(live: Any, redis_url: str) -> None:
    svc = services(live, redis_url)
    record = application(svc, seen_hours_ago=1)
    requests.post(f"{live.url}/emulator/_faults", json={"errcode": -1})
    with pytest.raises(notify.WeChatClientException):
        notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1", final=False)
    requests.post(f"{live.url}/emulator/_faults", json={})
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1", final=False) == "custom"
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1", final=False) == "custom"
    assert len(outbox(live, record.openid)) == 1


def test_on_the_last_try_a_transient_failure_falls_through(live: Any, redis_url: str,
                                                          redis_client: redis_lib.Redis) -> None:
    svc = services(live, redis_url)
    record = application(svc, seen_hours_ago=1)
    requests.post(f"{live.url}/emulator/_faults", json={"errcode": -1})
    before = redis_client.llen(LOCAL_OUTBOX)
    assert notify.deliver_with(svc, "approved", record.openid, record.number, {}, "k1", final=True) == "sms"
    assert len(sms_since(redis_client, before)) == 1
    assert outcomes(svc, record.number)[-1]["errors"]["custom"] == "wechat -1"


# --- through the real worker process ------------------------------------------------------------------------

def test_the_job_on_the_worker_sends_and_records(live: Any, worker: Any) -> None:
    svc = live.services
    record = application(svc, seen_hours_ago=2)
    key = notify.notify(svc, record.number, "invoice_ready", {"url": "https://szca.example.com/i/1"})
    wait_for(lambda: outcomes(svc, record.number))
    [sent] = outbox(live, record.openid)
    assert "https://szca.example.com/i/1" in sent["text"]["content"]
    assert outcomes(svc, record.number) == [{**outcomes(svc, record.number)[0], "kind": "invoice_ready",
                                             "key": key, "channel": "custom",
                                             "errors": {"template": "skipped: no template id"}}]


def test_the_same_job_run_twice_sends_once_per_channel(live: Any, worker: Any, redis_client: redis_lib.Redis) -> None:
    svc = live.services
    record = application(svc, seen_hours_ago=2)
    for _ in range(2):
        notify.notify(svc, record.number, "approved", key="same-event")
    wait_for(lambda: svc.queue.count == 0 and outcomes(svc, record.number))
    time.sleep(1.0)
    assert len(outbox(live, record.openid)) == 1
    # And a notice that fell through to SMS: one SMS, however often the job runs.
    other = application(svc)
    before = redis_client.llen(LOCAL_OUTBOX)
    for _ in range(3):
        notify.notify(svc, other.number, "financial_auth_failed", {"reason": "账号有误"}, key="same-event")
    wait_for(lambda: svc.queue.count == 0 and outcomes(svc, other.number))
    time.sleep(1.0)
    assert len([e for e in sms_since(redis_client, before) if e["params"].get("reason") == "账号有误"]) == 1


def test_a_system_busy_wechat_is_retried_by_the_worker(live: Any, worker: Any) -> None:
    svc = live.services
    record = application(svc, seen_hours_ago=2)
    requests.post(f"{live.url}/emulator/_faults", json={"errcode": -1})
    notify.notify(svc, record.number, "approved")
    wait_for(lambda: requests.get(f"{live.url}/emulator/_stats").json() and svc.queue.scheduled_job_registry.count)
    requests.post(f"{live.url}/emulator/_faults", json={})
    wait_for(lambda: outcomes(svc, record.number), timeout=30)
    assert len(outbox(live, record.openid)) == 1
    assert outcomes(svc, record.number)[-1]["channel"] == "custom"


# --- drafts -------------------------------------------------------------------------------------------------

def test_a_draft_left_for_24_hours_is_reminded_once(live: Any, redis_url: str, redis_client: redis_lib.Redis,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    svc = services(live, redis_url)
    queued: list[tuple[Any, ...]] = []
    monkeypatch.setattr(notify.jobs, "enqueue", lambda queue, fn, *args: queued.append(args))
    redis_client.delete(notify.DRAFTS, notify.REMINDED)
    now = datetime.now()
    notify.touch_draft(redis_client, "o-stale", now - timedelta(hours=25))
    notify.touch_draft(redis_client, "o-fresh", now - timedelta(hours=2))
    notify.touch_draft(redis_client, "o-done", now - timedelta(hours=30))
    notify.drop_draft(redis_client, "o-done")
    assert notify.remind_stale_drafts(svc, now) == ["o-stale"]
    assert notify.remind_stale_drafts(svc, now + timedelta(hours=1)) == []
    assert [args[:2] for args in queued] == [("draft_reminder", "o-stale")]
    # The reminder goes by customer-service message (a draft has no record, so no SMS number).
    redis_client.set(last_seen_key("o-stale"), int(time.time()) - 25 * 3600)
    assert notify.deliver_with(svc, *queued[0]) == "custom"
    assert "继续" in outbox(live, "o-stale")[-1]["text"]["content"]
    # Touched again and left again: reminded again.
    notify.touch_draft(redis_client, "o-stale", now)
    assert notify.remind_stale_drafts(svc, now + timedelta(hours=25)) == ["o-fresh", "o-stale"]
