"""Whole conversations through the application dialogue: every cert type on every platform that offers it."""

from __future__ import annotations

import json

import pytest

import dialogs
from dialogs import catalogue

from tests.dialogs.conftest import APPLICANT_IDS, CTX, HANDLER_ID, LEGAL_ID, TYPICAL, USCC, Chat  # type: ignore[import-not-found]

CAT = catalogue.load()
PAIRS = [(pid, ct) for pid, p in CAT.platforms.items() for ct in p.cert_types]


def test_catalogue_matches_the_seeds():
    assert set(CAT.platforms) == {"szggzy", "gws", "yinuo", "sxgq", "szgd"}
    assert CAT.platforms["szggzy"].cert_types == ("org", "org_person", "person")
    assert CAT.platforms["gws"].seal.offered and CAT.platforms["gws"].seal.default
    assert CAT.platforms["yinuo"].cert_types == ("org", "org_person")
    assert CAT.platforms["sxgq"].holders_with_own_years
    assert "authorization_letter" in CAT.platforms["sxgq"].documents["org"]
    assert CAT.platforms["szgd"].cert_types == ("org",)
    assert CAT.platforms["szgd"].post_payment == "random_code"
    assert CAT.platforms["szggzy"].post_payment == "transfer_0_01"
    assert all(p.years == (1, 2, 3, 4, 5) for p in CAT.platforms.values())
    assert CAT.price("szggzy", "org", 3) > CAT.price("szggzy", "org", 1)
    with pytest.raises(KeyError):
        CAT.price("szgd", "person", 1)
    assert len(CAT.banks) >= 30


@pytest.mark.parametrize("platform_id,cert_type", PAIRS)
def test_whole_application_one_value_per_message(platform_id: str, cert_type: str):
    p = CAT.platform(platform_id)
    chat = Chat()
    assert "《电子认证服务协议》" in chat.start()
    assert "https://bot.example/agreements/sensitive" in chat.replies[0]
    script = {**TYPICAL, "platform": p.name, "cert_type": CAT.cert_type_name(cert_type)}
    chat.fill(script)
    summary = "\n".join(chat.replies)
    assert chat.state is not None and chat.state.confirming
    assert "合计：¥" in summary
    # Masked in the summary: no full ID, mobile or account.
    for secret in (HANDLER_ID, LEGAL_ID, APPLICANT_IDS[0], "13800138000", "4000021109200123456"):
        assert secret not in summary
    chat.say("确认")
    app = chat.submitted()
    assert chat.state is None
    assert app.platform == platform_id and app.cert_type_id == cert_type
    assert app.cert_type == CAT.cert_type_name(cert_type)
    assert app.consent_at.isoformat() == "2026-11-24T09:30:00"
    assert app.post_payment_step == p.post_payment
    assert app.mailing.city == "深圳市" and app.mailing.district == "福田区"
    if cert_type == "person":
        assert app.unit is None and app.finance is None and app.natural_person is not None
        assert app.invoice.title == "王五" and app.invoice.tax_id is None
        assert app.total_fen == CAT.price(platform_id, "person", 3)
    else:
        assert app.unit is not None and app.unit.id_number == USCC and app.unit.city == "深圳市"
        assert app.finance is not None and app.finance.bank == "中国工商银行"
        assert app.finance.account == "4000021109200123456"
        assert app.finance.account_name == app.unit.name
        assert app.invoice.title == app.unit.name and app.invoice.tax_id == USCC
        assert app.handler is not None and app.handler.id_number == HANDLER_ID
    if cert_type == "org_person":
        assert [a.name for a in app.applicants] == ["李四"]
        years = 2 if p.holders_with_own_years else 3
        assert app.applicants[0].years == years
        assert app.total_fen == CAT.price(platform_id, "org_person", years)
    if cert_type == "org":
        assert app.applicants == []
        assert app.total_fen == CAT.price(platform_id, "org", 3, seal=bool(app.seal))
    # The record must survive JSON (the caller stores model_dump(mode="json")).
    again = dialogs.Application.model_validate_json(app.model_dump_json())
    assert again == app
    json.dumps(app.model_dump(mode="json"), ensure_ascii=False)
    replies = dialogs.submitted_replies(app, "SZ20261124000123")
    text = "\n".join(replies)
    assert "SZ20261124000123" in text and "缴费" in text and "活体" in text
    assert CAT.post_payment_names[p.post_payment] in text


def test_gws_asks_for_the_seal_with_default_yes():
    chat = Chat()
    chat.start("gws")
    chat.say("同意")
    # 建筑工务署 offers only 机构证书: the type is taken without asking; the seal is asked with its default.
    assert chat.cursor == "years"
    chat.say("1")
    assert chat.cursor == "seal"
    assert "直接回复“好”使用：是" in chat.replies[-1]
    chat.say("好")
    assert chat.answers["seal"] is True
    chat.fill(TYPICAL)
    chat.say("确认")
    app = chat.submitted()
    assert app.seal is True and "seal_sheet" in app.documents


def test_gws_without_seal_needs_no_seal_sheet():
    chat = Chat()
    chat.start("建筑工务署")
    chat.fill({**TYPICAL, "seal": "否"})
    chat.say("确认")
    app = chat.submitted()
    assert app.seal is False and "seal_sheet" not in app.documents


def test_szgd_offers_only_org_and_random_code():
    chat = Chat()
    chat.start("广电")
    reply = chat.say("同意")
    assert chat.answers["cert_type"] == "org" and "深圳广电采购只办理机构证书。" in reply
    chat.fill(TYPICAL)
    chat.say("确认")
    app = chat.submitted()
    assert app.payment_methods == ["wechat"]
    assert "随机码验证" in "\n".join(dialogs.submitted_replies(app, "SZ1"))


def test_shanxi_org_with_several_holders_each_with_own_years():
    chat = Chat()
    chat.start("sxgq")
    chat.fill({**TYPICAL, "cert_type": "机构证书"}, until=lambda c: c.cursor == "holders")
    chat.say("是")
    chat.fill({**TYPICAL}, until=lambda c: c.field_key() == "applicants.name")
    assert "【申请人1】" in chat.replies[-1]
    chat.say(f"李四 {APPLICANT_IDS[0]} 13700137000 2年")
    assert chat.cursor == "applicants.0.more"
    chat.say("是")
    assert chat.cursor == "applicants.1.name"
    # The same ID twice is a slip: refused, the rest of the item kept.
    reply = chat.say(f"赵六 {APPLICANT_IDS[0]} 13500135000 5年")
    assert "与申请人1相同" in reply and "已记下" in reply
    assert chat.cursor == "applicants.1.id"
    assert chat.answers["applicants.1.name"] == "赵六"
    chat.say(APPLICANT_IDS[1])
    assert chat.cursor == "applicants.1.more"
    chat.say("否")
    chat.fill(TYPICAL)
    summary = "\n".join(chat.replies)
    assert "【申请人2】" in summary
    chat.say("确认")
    app = chat.submitted()
    assert [(a.name, a.years) for a in app.applicants] == [("李四", 2), ("赵六", 5)]
    assert app.years == 3
    expected = CAT.price("sxgq", "org", 3) + CAT.price("sxgq", "org_person", 2) + CAT.price("sxgq", "org_person", 5)
    assert app.total_fen == expected
    assert "authorization_letter" in app.documents and "applicant_id_copy" in app.documents
    assert "授权委托书" in dialogs.submitted_replies(app, "SZ1")[1]


def test_shanxi_holders_only_has_no_common_years():
    chat = Chat()
    chat.start("sxgq")
    chat.fill({**TYPICAL, "cert_type": "机构个人"})
    assert "years" not in chat.answers
    chat.say("确认")
    app = chat.submitted()
    assert app.years is None and app.applicants[0].years == 2


def test_org_person_on_other_platforms_shares_the_years():
    chat = Chat()
    chat.start("一诺")
    chat.fill({**TYPICAL, "cert_type": "机构个人", "applicants.more": "是"},
              until=lambda c: c.cursor == "applicants.1.name")
    chat.fill({**TYPICAL, "cert_type": "机构个人", "applicants.name": "孙七", "applicants.id": APPLICANT_IDS[2],
               "applicants.mobile": "13300133000"})
    chat.say("确认")
    app = chat.submitted()
    assert [a.years for a in app.applicants] == [3, 3]
    assert app.total_fen == 2 * CAT.price("yinuo", "org_person", 3)


def test_declining_consent_ends_with_nothing_stored():
    chat = Chat()
    chat.start()
    reply = chat.say("不同意")
    assert chat.state is None and "没有保存任何信息" in reply


def test_start_with_a_draft_asks_to_continue_or_restart():
    chat = Chat()
    chat.start()
    chat.fill({**TYPICAL, "platform": "1", "cert_type": "1"}, until=lambda c: c.cursor == "handler.name")
    draft = chat.state
    assert "未完成的申请" in chat.start()
    chat.say("1")
    assert chat.cursor == "handler.name"  # resumes at the first missing field
    chat.state = draft
    chat.start()
    chat.say("重新开始")
    assert chat.state is not None and chat.state.answers == {} and chat.cursor == "consent"


def test_start_words_begin_an_application_and_other_texts_fall_through():
    for word in ("申请证书", "办证", "新办", "办理证书", "我要申请证书"):
        result = dialogs.handle(None, word, CTX)
        assert result.claimed and result.state is not None and "《电子认证服务协议》" in result.replies[0]
    result = dialogs.handle(None, "PIN码怎么获取", CTX)
    assert not result.claimed and result.state is None and result.replies == []
    result = dialogs.handle(None, "继续", CTX)
    assert result.claimed and result.state is None and "没有未完成的申请" in result.replies[0]


def test_full_org_draft_state_is_small_and_round_trips(capsys):
    chat = Chat()
    chat.start()
    chat.fill({**TYPICAL, "platform": "深圳公共资源", "cert_type": "机构证书"})
    raw = chat.state.model_dump_json()
    assert len(raw.encode()) < 4096
    assert dialogs.DialogState.model_validate_json(raw) == chat.state
    # The handler stores it with exclude_defaults; that must load back to the same state.
    assert dialogs.DialogState.model_validate_json(chat.state.model_dump_json(exclude_defaults=True)) == chat.state
    assert chat.state.v == 1
    with capsys.disabled():
        print(f"\nfull 机构证书 draft state: {len(raw.encode())} bytes")


def test_a_draft_from_another_release_is_not_misread():
    old = dialogs.DialogState(v=0, answers={"platform": "nowhere"}, cursor="unit.name")
    result = dialogs.handle(old, "申请证书", CTX)
    assert result.state.v == 1 and result.state.answers == {}


# --- how many messages a 机构证书 takes ----------------------------------------------------------------------

BEST_CASE = [
    "同意",
    "深圳公共资源 机构证书 3年",
    f"深圳市电子商务安全证书管理有限公司 {USCC} 广东省深圳市南山区高新中二路8号",
    f"陈明 {LEGAL_ID} 13912345678",
    f"张三 {HANDLER_ID} 13800138000 zhangsan@qq.com 办事员",
    "招商银行 7559 1234 5678 901",
    "同上",
    "好",
    "确认",
]


def _count_typical() -> int:
    chat = Chat()
    chat.start()
    chat.fill({**TYPICAL, "platform": "1", "cert_type": "1"})
    chat.say("确认")
    chat.submitted()
    return chat.sent


def _count_best() -> int:
    chat = Chat()
    chat.start()
    for text in BEST_CASE:
        chat.say(text)
    app = chat.submitted()
    assert app.unit.address == "高新中二路8号" and app.mailing.address == "高新中二路8号"
    assert app.finance.bank == "招商银行" and app.finance.account == "755912345678901"
    assert app.handler.title == "办事员" and app.legal.name == "陈明"
    return chat.sent


def test_message_counts_for_an_org_certificate(capsys):
    best, typical = _count_best(), _count_typical()
    # Counted from the start command to the confirmation, both included.
    assert best == 10
    assert typical == 21
    with capsys.disabled():
        print(f"\n机构证书 messages: best case {best}, typical {typical}")
