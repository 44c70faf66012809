"""Faults between the job worker and WeChat: a flaky, token-losing or slow API, and a worker killed mid-job.
Real `szca-bot worker` processes on a private Redis; every message is counted at the emulator."""

from __future__ import annotations

import io
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from PIL import Image

from bot import jobs, notify
from bot.records import ApplicationRecord
from bot.replies import Text
from tests.conftest import DATA_DIR, upload_media, wait_for
from tests.support.faults import JobStack, kill_hard, per_user

TEMPLATE_IDS = '{"approved": "tmpl-approved"}'


@pytest.fixture
def stack(make_live: Any) -> Iterator[JobStack]:
    stack = JobStack(make_live, DATA_DIR)
    yield stack
    stack.close()


def users(prefix: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"o-{prefix}-{run}-{i:02d}" for i in range(count)]


def push(stack: JobStack, openid: str, text: str) -> None:
    jobs.enqueue_push(stack.queue, openid, [Text(text)], f"fault-{uuid.uuid4().hex[:8]}")


def delivered(stack: JobStack, expected: int) -> dict[str, int]:
    """Wait until `expected` messages are out and no job is left to send more; the count per user."""
    wait_for(lambda: len(stack.outbox()) >= expected and stack.drained(), timeout=25)
    return per_user(stack.outbox())


def test_a_third_of_calls_failing_loses_no_message_and_doubles_none(stack: JobStack) -> None:
    stack.start_worker(TEMPLATE_IDS=TEMPLATE_IDS)
    stack.start_worker(TEMPLATE_IDS=TEMPLATE_IDS)  # two workers: retries may land on either
    stack.faults(fail_rate=0.3)
    pushed, notified = users("flaky-push", 20), users("flaky-notice", 10)
    for i, openid in enumerate(pushed):
        push(stack, openid, f"回复 {i}")
    for openid in notified:
        notify.notify(stack.services, openid, "approved", {"number": "SZ-TEST"})

    assert delivered(stack, 30) == {openid: 1 for openid in pushed + notified}
    assert stack.stats()["failed"] >= 3  # failures did happen (30 % of 30+ calls), and were retried
    assert {m["kind"] for m in stack.outbox() if m["touser"] in notified} == {"template"}


def test_token_errors_are_refreshed_and_each_message_sent_once(stack: JobStack) -> None:
    stack.start_worker()
    push(stack, users("token-warm", 1)[0], "预热")  # a token in Redis, as in a running service
    delivered(stack, 1)
    before = stack.stats()
    stack.faults(token_errors=3, fail_rate=0.3, errcode=40001)
    openids = users("token", 10)
    for openid in openids:
        push(stack, openid, "令牌失效后送达")

    counts = delivered(stack, 11)
    assert all(counts[openid] == 1 for openid in openids)
    after = stack.stats()
    assert after["token_error"] - before["token_error"] == 3
    assert after["failed"] > before["failed"] or after["token_error"] > before["token_error"]
    assert after["token"] > before["token"]  # the token was fetched again, not just the call retried


def test_a_gateway_timeout_that_delivered_nothing_is_retried_once(stack: JobStack) -> None:
    stack.start_worker(WECHAT_TIMEOUT_S="1")
    stack.faults(delay_s=2, delay_calls=2, delay_where="before")
    openids = users("slow-lost", 4)
    for openid in openids:
        push(stack, openid, "网关超时后重发")

    assert delivered(stack, 4) == {openid: 1 for openid in openids}
    assert stack.stats()["delayed"] == 2
    assert "ReadTimeout" in stack.logs()  # our read gave up before the 2 s answer: the timeout is bounded


def test_a_read_timeout_after_wechat_delivered_sends_again(stack: JobStack) -> None:
    """WeChat's send has no idempotency key: when it delivered but our read timed out, we cannot know.  We
    send again — a doubled message rather than a lost one (a lost approval leaves the applicant waiting)."""
    stack.start_worker(WECHAT_TIMEOUT_S="1")
    stack.faults(delay_s=2, delay_calls=1, delay_where="after")
    openid = users("slow-sent", 1)[0]
    push(stack, openid, "送达但回应超时")

    assert delivered(stack, 2) == {openid: 2}
    assert "ReadTimeout" in stack.logs()


def _kill_mid_call(stack: JobStack, where: str, start_job: Any) -> float:
    """Kill the only worker while WeChat holds its call, start another; seconds until the job was requeued."""
    first = stack.start_worker(WECHAT_TIMEOUT_S="10")
    stack.faults(delay_s=4, delay_calls=1, delay_where=where)
    start_job()
    wait_for(lambda: stack.stats()["delayed"] == 1 and (where == "before" or stack.outbox()), timeout=15)
    kill_hard(first)
    killed_at = time.monotonic()
    second = stack.start_worker(WECHAT_TIMEOUT_S="10")
    wait_for(lambda: "requeued" in second.log_text(), timeout=15)
    return time.monotonic() - killed_at


def test_a_worker_killed_mid_send_has_the_job_run_again_and_sent_once(stack: JobStack) -> None:
    openid = users("killed", 1)[0]
    recovered_after = _kill_mid_call(stack, "before", lambda: push(stack, openid, "工作进程被杀"))

    assert delivered(stack, 1) == {openid: 1}
    assert recovered_after < 10  # the new worker's start-up, not RQ's 90 s heartbeat expiry and 10-min pass
    assert "took over the send of a dead process" in stack.logs()


def test_a_worker_killed_after_wechat_delivered_sends_again(stack: JobStack) -> None:
    """The one window left: killed after WeChat took the message and before the "sent" mark.  At least once
    means the re-run sends it again."""
    openid = users("killed-late", 1)[0]
    _kill_mid_call(stack, "after", lambda: push(stack, openid, "工作进程被杀"))

    assert delivered(stack, 2) == {openid: 2}


def test_a_live_workers_job_is_not_taken_over(stack: JobStack) -> None:
    """Recovery needs proof of death: a second worker started while the first is mid-send leaves it alone."""
    first = stack.start_worker(WECHAT_TIMEOUT_S="10")
    stack.faults(delay_s=3, delay_calls=1, delay_where="after")
    openid = users("alive", 1)[0]
    push(stack, openid, "慢但活着")
    wait_for(lambda: stack.stats()["delayed"] == 1, timeout=15)
    second = stack.start_worker(WECHAT_TIMEOUT_S="10")
    wait_for(lambda: "Listening on" in second.log_text(), timeout=15)
    assert stack.queue.started_job_registry.count == 1  # the second worker looked while the first was sending

    assert delivered(stack, 1) == {openid: 1}
    assert "requeued" not in stack.logs()
    assert first.proc.poll() is None


def _awaiting_seal_sheet(stack: JobStack) -> ApplicationRecord:
    now = datetime.now()
    record = ApplicationRecord(
        number=f"NF{uuid.uuid4().hex[:10]}", openid=users("doc", 1)[0], status="documents", platform="深圳公共资源交易中心",
        cert_type="机构证书", created_at=now, updated_at=now,
        data={"platform_name": "深圳公共资源交易中心", "documents": ["seal_sheet"],
              "handler": {"name": "张三", "id_number": "11010519491231002X", "mobile": "13800138000"}})
    stack.services.store.save_record(record)
    return record


def _photo() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (30, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def _kept_files(number: str) -> list[str]:
    folder = Path(DATA_DIR) / "files" / "apps" / number
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_a_worker_killed_while_fetching_a_document_files_it_once(stack: JobStack) -> None:
    record = _awaiting_seal_sheet(stack)
    media_id = upload_media(stack.server.url, _photo())
    args = (record.openid, record.number, media_id, f"doc-{uuid.uuid4().hex[:8]}")
    _kill_mid_call(stack, "before", lambda: jobs.enqueue(stack.queue, jobs.receive_document, *args))

    wait_for(lambda: stack.outbox() and stack.drained(), timeout=25)
    after = stack.services.store.record(record.number)
    assert list(after.uploads) == ["seal_sheet"] and after.status == "identity"
    assert [h.note for h in after.history].count("资料已上传齐全") == 1
    assert len(_kept_files(record.number)) == 1
    texts = [m.get("text", {}).get("content") or m.get("msgtype") for m in stack.outbox()]
    assert texts and len(texts) == len(set(texts)) and "收到" in texts[0]
    assert "Traceback" not in stack.logs().split("requeued", 1)[1]  # the re-run itself went through


def test_a_document_job_run_again_files_the_photo_as_the_same_document(stack: JobStack) -> None:
    """Run again after a crash past the filing, the job must not take the same photo for another document
    (here: with nothing missing any more, it used to ask the user which document the photo was)."""
    stack.start_worker()
    record = _awaiting_seal_sheet(stack)
    media_id = upload_media(stack.server.url, _photo())
    key = f"doc-{uuid.uuid4().hex[:8]}"
    first = jobs.receive_document(record.openid, record.number, media_id, key)
    again = jobs.receive_document(record.openid, record.number, media_id, key)

    assert first == again == "seal_sheet"
    assert list(stack.services.store.record(record.number).uploads) == ["seal_sheet"]
    wait_for(lambda: stack.outbox() and stack.drained(), timeout=15)
    texts = [m.get("text", {}).get("content") or m.get("msgtype") for m in stack.outbox()]
    assert len(texts) == len(set(texts))  # the re-run's replies carry the same keys: nothing is sent twice
