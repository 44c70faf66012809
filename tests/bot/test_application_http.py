"""Whole applications over HTTP with real callback XML against Redis: one per certificate type, safe mode,
a restart of the service mid-form, answers sent at once, and the record the confirmation creates."""

from __future__ import annotations

import json
import re
import threading

import pytest

from bot.simclient import WeChatUser
from bot.store import conv_key
from tests.conftest import wait_for
from tests.dialogs.conftest import LEGAL_ID, TYPICAL


def _dialog(redis_client, openid: str) -> dict | None:
    raw = redis_client.get(conv_key(openid))
    return json.loads(raw).get("dialog") if raw else None


def fill(user: WeChatUser, redis_client, answers: dict[str, str], limit: int = 60) -> int:
    """Answer whatever the bot asks (read from the stored state) until the summary; returns messages sent."""
    sent = 0
    for _ in range(limit):
        dialog = _dialog(redis_client, user.openid)
        assert dialog is not None, "the draft vanished"
        if dialog.get("confirming"):
            return sent
        key = re.sub(r"\.\d+\.", ".", dialog["cursor"])
        reply = user.text(answers[key])
        assert reply.status == 200 and reply.text, f"no reply at {key}"
        sent += 1
    raise AssertionError("never reached the summary")


CASES = {
    "org": {"platform": "深圳公共资源交易平台", "cert_type": "机构证书"},
    "org_person": {"platform": "一诺软件招投标", "cert_type": "机构个人证书"},
    "person": {"platform": "深圳公共资源交易平台", "cert_type": "自然人证书"},
}


@pytest.mark.parametrize("kind", CASES)
def test_a_whole_application_per_certificate_type(live, redis_client, worker, kind):
    user = WeChatUser(live.url)
    first = user.click("NEW_APPLICATION")
    assert "电子认证服务协议" in first.text and f"{live.url}/agreements/service" in first.text
    fill(user, redis_client, {**TYPICAL, **CASES[kind]})
    done = user.text("确认")
    number = re.search(r"SZ\d{14}", done.text).group(0)
    assert CASES[kind]["cert_type"] in done.text

    record = live.services.store.record(number)
    assert record is not None and record.openid == user.openid and record.status == "documents"
    assert record.cert_type == CASES[kind]["cert_type"] and record.history[0].status == "documents"
    # what comes next arrives as a pushed message
    pushed = wait_for(lambda: [m for m in user.pushed() if "接下来" in m.get("text", {}).get("content", "")])
    assert "身份认证" in pushed[0]["text"]["content"]
    # the draft is gone, the application is listed
    assert _dialog(redis_client, user.openid) is None
    mine = user.text("我的申请").text
    assert number in mine and "待上传资料" in mine


def test_an_application_in_safe_mode(live, redis_client, aes_user):
    aes_user.text("申请证书")
    fill(aes_user, redis_client, {**TYPICAL, **CASES["org"]})
    assert re.search(r"SZ\d{14}", aes_user.text("确认").text)


def test_the_summary_masks_identifiers(live, redis_client, user):
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES["org"]})
    summary = user.text("帮助").text + "".join(m.get("text", {}).get("content", "") for m in user.pushed())
    assert TYPICAL["handler.id"] not in summary and TYPICAL["handler.mobile"] not in summary


def test_a_restart_of_the_service_loses_nothing(make_live, redis_client):
    first = make_live()
    user = WeChatUser(first.url)
    user.text("申请证书")
    answers = {**TYPICAL, **CASES["org"]}
    for _ in range(8):
        key = re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"])
        user.text(answers[key])
    before = _dialog(redis_client, user.openid)["answers"]
    first.close()

    second = make_live()  # a new process on the same Redis
    user.base_url = second.url
    resumed = user.text("继续")
    assert resumed.status == 200
    assert _dialog(redis_client, user.openid)["answers"] == before
    fill(user, redis_client, answers)
    assert re.search(r"SZ\d{14}", user.text("确认").text)


def test_two_answers_sent_at_once_are_both_kept(live, redis_client):
    user = WeChatUser(live.url)
    user.text("申请证书")
    answers = {**TYPICAL, **CASES["org"]}
    while re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"]) != "legal.name":
        user.text(answers[re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"])])
    # The name and the ID number leave the phone together; whichever the lock lets in first, both must land.
    threads = [threading.Thread(target=user.text, args=(t,)) for t in ("陈明", LEGAL_ID)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dialog = _dialog(redis_client, user.openid)
    got = dialog["answers"]
    # The name is valid whichever comes first; the ID is valid only after it (at the name prompt an ID is
    # refused). No lost update: what was accepted is kept, and the form asks for exactly what is missing.
    assert got["legal.name"] == "陈明"
    if got.get("legal.id") == LEGAL_ID:
        assert dialog["cursor"] == "legal.mobile"
    else:
        assert dialog["cursor"] == "legal.id"


def test_service_words_mid_form_are_not_taken_as_values(live, redis_client, user):
    user.text("申请证书")
    answers = {**TYPICAL, **CASES["org"]}
    while re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"]) != "unit.name":
        user.text(answers[re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"])])
    reply = user.text("我的申请")
    assert "还没有提交过证书申请" in reply.text
    dialog = _dialog(redis_client, user.openid)
    assert dialog["cursor"] == "unit.name" and "unit.name" not in dialog["answers"]


def test_a_faq_question_mid_form_is_answered_and_the_form_keeps_its_values(live, redis_client, user):
    user.text("申请证书")
    answers = {**TYPICAL, **CASES["org"]}
    for _ in range(6):
        user.text(answers[re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"])])
    before = _dialog(redis_client, user.openid)
    reply = user.text("PIN码怎么获取")
    assert "PIN" in reply.text
    after = _dialog(redis_client, user.openid)
    assert after["answers"] == before["answers"] and after["cursor"] == before["cursor"]


def test_cancel_asks_then_drops_the_draft(live, redis_client, user):
    user.text("申请证书")
    user.text("同意")
    assert "放弃这份申请" in user.text("取消").text
    assert _dialog(redis_client, user.openid) is not None  # only asked, not dropped yet
    user.text("是")
    assert _dialog(redis_client, user.openid) is None


def test_declining_consent_stores_nothing(live, redis_client, user):
    user.text("申请证书")
    user.text("不同意")
    assert redis_client.get(conv_key(user.openid)) is None
