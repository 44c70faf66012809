"""The back-office API over HTTP: staff tokens, the audit trail, and every staff action driving the lifecycle
and telling the applicant (seen at the emulated WeChat API)."""

from __future__ import annotations

import json

import requests

from bot.review import AUDIT_LOG
from tests.bot.test_payment_http import _pay_in_sandbox, at_payment_step
from tests.conftest import STAFF_TOKEN, wait_for

AUTH = {"Authorization": f"Bearer {STAFF_TOKEN}"}


def _act(live, number: str, action: str, **body) -> requests.Response:
    return requests.post(f"{live.url}/api/v1/applications/{number}/{action}", json=body, headers=AUTH)


def _told(user, needle: str) -> str:
    return wait_for(lambda: next((m["text"]["content"] for m in user.pushed()
                                  if needle in m.get("text", {}).get("content", "")), None))


def test_missing_and_forged_tokens_are_refused_and_audited(live, redis_client):
    assert requests.get(f"{live.url}/api/v1/applications").status_code == 401
    forged = requests.get(f"{live.url}/api/v1/applications", headers={"Authorization": "Bearer nope"})
    assert forged.status_code == 401
    assert json.loads(redis_client.lindex(AUDIT_LOG, 0))["outcome"] == "401"


def test_transfer_confirmed_approved_and_shipped_with_the_user_told(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    user.text("2")
    assert _act(live, number, "confirm-transfer").json()["status"] == "review"
    assert _act(live, number, "approve").json()["status"] == "approved"
    assert "审核通过" in _told(user, "审核通过")
    shipped = _act(live, number, "ship", carrier="顺丰速运", tracking="SF1234567890")
    assert shipped.json()["status"] == "shipped"
    assert "SF1234567890" in _told(user, "SF1234567890")
    record = live.services.store.record(number)
    assert [h.status for h in record.history][-3:] == ["review", "approved", "shipped"]
    assert record.history[-1].by == "staff:alice"
    audit = [json.loads(x) for x in redis_client.lrange(AUDIT_LOG, 0, 20)]
    assert any(a["action"] == "ship" and a["application"] == number and a["staff"] == "alice" for a in audit)


def test_rejection_carries_the_reason_and_what_to_fix(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    user.text("2")
    _act(live, number, "confirm-transfer")
    resp = _act(live, number, "reject", reason="身份证复印件未加盖公章", fix_documents=["business_licence"])
    assert resp.json()["status"] == "rejected"
    told = _told(user, "驳回")
    assert "身份证复印件未加盖公章" in told and "营业执照" in told
    assert "business_licence" not in live.services.store.record(number).uploads  # to be sent again


def test_financial_authentication_failed_then_passed(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    _pay_in_sandbox(live, user)
    failed = _act(live, number, "financial-auth", passed=False, reason="基本户账号与开户行不符")
    assert failed.json()["status"] == "financial_auth_failed"
    assert "基本户账号与开户行不符" in _told(user, "认证不通过")
    assert _act(live, number, "financial-auth", passed=True).status_code == 409  # failed: the user resubmits first


def test_illegal_moves_and_bad_bodies_are_refused(live, redis_client):
    _, number = at_payment_step(live, redis_client)
    assert _act(live, number, "approve").status_code == 409  # not yet reviewed
    assert _act(live, number, "ship", carrier="顺丰").status_code == 400  # no tracking number
    assert _act(live, number, "dance").status_code == 404
    assert _act(live, "SZ00000000000000", "approve").status_code == 404
    assert live.services.store.record(number).status == "payment"


def test_finance_sets_the_random_code_the_user_types(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client, platform="深圳广电采购")
    _pay_in_sandbox(live, user)
    assert _act(live, number, "code", code="246810").status_code == 200
    assert "验证通过" in user.text("随机码 246810").text


def test_list_filter_read_and_documents(live, redis_client):
    _, number = at_payment_step(live, redis_client)
    listed = requests.get(f"{live.url}/api/v1/applications", params={"status": "payment"}, headers=AUTH).json()
    assert number in [a["number"] for a in listed["applications"]]
    assert all(a["status"] == "payment" for a in listed["applications"])
    detail = requests.get(f"{live.url}/api/v1/applications/{number}", headers=AUTH).json()
    assert detail["data"]["unit"]["name"] and detail["history"]
    doc = next(d for d in detail["documents"] if d["uploaded"])
    assert requests.get(f"{live.url}{doc['url']}", headers=AUTH).content.startswith(b"\xff\xd8")


def test_the_review_command_runs_the_same_actions(live, redis_client):
    import os
    import subprocess
    import sys

    user, number = at_payment_step(live, redis_client)
    user.text("2")
    env = {**os.environ, "REDIS_URL": live.services.settings.redis_url,
           "WECHAT_API_BASE_URL": f"{live.url}/emulator/cgi-bin/"}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot.cli", "review", *args], env=env, capture_output=True,
                              text=True, timeout=60)

    assert run("approve", number).returncode == 1  # still being paid: refused, and says why
    done = run("confirm-transfer", number)
    assert done.returncode == 0 and "待审核" in done.stdout
    assert number in run("list", "--status", "review").stdout
    assert json.loads(run("show", number).stdout)["status"] == "review"
    assert any(json.loads(a)["source"] == "cli" for a in redis_client.lrange(AUDIT_LOG, 0, 10))


def test_my_applications_shows_the_rejection_and_what_to_resend(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    user.text("2")
    _act(live, number, "confirm-transfer")
    _act(live, number, "reject", reason="营业执照不清晰", fix_documents=["business_licence"])
    user.text("我的申请")
    pushed = wait_for(lambda: next((m["text"]["content"] for m in user.pushed()
                                    if m.get("text", {}).get("content", "").startswith("申请已被驳回")), None))
    assert "请重新发送：营业执照" in pushed


def test_reject_fix_resubmit_approve(live, redis_client, worker):
    from tests.bot.test_payment_http import _jpeg
    from tests.conftest import upload_media

    user, number = at_payment_step(live, redis_client)
    user.text("2")
    _act(live, number, "confirm-transfer")
    _act(live, number, "reject", reason="营业执照未加盖公章", fix_documents=["business_licence"])
    assert "还差：营业执照" in user.text("重新提交").text  # not before the licence is sent again
    user.image(upload_media(live.url, _jpeg(7)))
    assert "资料已补齐" in _told(user, "资料已补齐")
    assert "已重新提交" in user.text("重新提交").text
    assert live.services.store.record(number).status == "review"
    assert _act(live, number, "approve").json()["status"] == "approved"
    statuses = [h.status for h in live.services.store.record(number).history]
    assert statuses[-4:] == ["review", "rejected", "review", "approved"]


def test_financial_auth_failed_then_new_bank_details_in_chat_then_passed(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    _pay_in_sandbox(live, user)
    _act(live, number, "financial-auth", passed=False, reason="账号与开户行不符")
    assert "没认出开户行" in user.text("6222 0212 3456 7890").text
    user.text("招商银行 12")  # too short to be an account: not taken as one
    assert live.services.store.record(number).status == "financial_auth_failed"
    done = user.text("招商银行 7559 1234 5678 901")
    assert "已重新提交金融认证信息" in done.text and "7559123456789" not in done.text  # masked
    record = live.services.store.record(number)
    assert record.status == "financial_auth" and record.data["finance"]["account"] == "755912345678901"
    assert _act(live, number, "financial-auth", passed=True).json()["status"] == "review"


def test_legal_person_authentication_goes_to_a_human(live, redis_client):
    user, number = at_payment_step(live, redis_client)
    _pay_in_sandbox(live, user)
    _act(live, number, "financial-auth", passed=False, reason="多次不通过")
    assert user.text("法人认证").msg_type == "transfer_customer_service"


def test_reject_naming_a_field_the_user_corrects_it_in_chat_and_resubmits(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    user.text("2")
    _act(live, number, "confirm-transfer")
    _act(live, number, "reject", reason="经办人手机号未实名")
    asked = user.text("修改 经办人手机")
    assert asked.status == 200 and "手机" in asked.text
    user.text("13600136001")
    assert "修改已保存" in user.text("确认").text
    record = live.services.store.record(number)
    assert record.status == "rejected" and record.data["handler"]["mobile"] == "13600136001"
    assert len(live.services.store.records(user.openid)) == 1  # the same application, not a new one
    assert "已重新提交" in user.text("重新提交").text
    assert _act(live, number, "approve").json()["status"] == "approved"


def test_cancelling_a_correction_leaves_the_application_as_it_was(live, redis_client):
    user, number = at_payment_step(live, redis_client)
    user.text("2")
    _act(live, number, "confirm-transfer")
    _act(live, number, "reject", reason="经办人手机号未实名")
    before = live.services.store.record(number).data["handler"]
    user.text("修改 经办人手机")
    user.text("取消")
    user.text("是")
    assert live.services.store.record(number).data["handler"] == before
    assert json.loads(redis_client.get(f"conv:{{{user.openid}}}") or b"{}").get("editing") is None


def test_invoice_ready_is_told_with_its_link(live, redis_client, worker):
    user, number = at_payment_step(live, redis_client)
    resp = _act(live, number, "invoice", url="https://fapiao.example.com/SZ-0001.pdf")
    assert resp.status_code == 200
    assert "https://fapiao.example.com/SZ-0001.pdf" in _told(user, "电子发票")
    assert _act(live, number, "invoice", url="javascript:alert(1)").status_code == 400


def test_agents_context_is_in_the_back_office(live, redis_client, user):
    user.text("人工")
    handoffs = requests.get(f"{live.url}/api/v1/handoffs", headers=AUTH).json()["handoffs"]
    assert handoffs and handoffs[0]["reason"] == "用户要求人工"
    assert requests.get(f"{live.url}/api/v1/handoffs").status_code == 401
