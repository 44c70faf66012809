"""The matcher and the replies built on it: normalisation, the three outcomes, personal answers, pick and hook."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faq import Faq, FaqProfile

FAQ = Faq()  # read-only use; building it once keeps the module fast


def normalise(text: str) -> str:
    return FAQ.matcher.normalise(text)


# -- normalisation ----------------------------------------------------------------------------------------------
def test_full_width_letters_digits_and_punctuation_are_folded():
    assert normalise("ＰＩＮ码怎么获取？") == normalise("pin码怎么获取?") == normalise("PIN码 怎么获取")
    assert normalise("ＵＫＥＹ") == normalise("ukey")
    assert normalise("收到０．０１元") == normalise("收到0.01元")


def test_synonyms_and_fillers():
    assert normalise("证书密码") == normalise("证书口令") == normalise("证书PIN码") == normalise("证书初始密码")
    assert normalise("怎么开票") == normalise("发票")
    assert normalise("请问一下发票呢？") == normalise("发票")
    assert normalise("我的申请审核到哪了") == normalise("申请进度")
    # latin synonyms match whole words only: the "ca" inside "szca" is not a certificate
    assert "证书" not in normalise("szca6688")


def test_full_width_question_gets_the_same_answer():
    assert FAQ.ask("ＰＩＮ码怎么获取？").entry_id == "pin"


# -- the three outcomes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("PIN码怎么获取", "pin"),
        ("ukey密码在哪里", "pin"),
        ("发票在哪里下载", "invoice"),
        ("审核进度怎么查", "progress"),
        ("手机号实名认证过不了", "telecom_realname"),
        ("证书怎么领取", "delivery"),
        ("金融认证不通过怎么办", "financial_auth_failed"),
        ("印模采集表模板在哪下载", "seal_form_template"),
        ("你好，PIN码怎么获取", "pin"),
        ("你好", "greeting"),
    ],
)
def test_confident_answers(question, entry_id):
    reply = FAQ.ask(question)
    assert (reply.outcome, reply.entry_id) == ("answer", entry_id)
    assert reply.text == FAQ.entry(entry_id).answer


def test_ambiguous_question_gets_numbered_suggestions():
    reply = FAQ.ask("认证失败")
    assert reply.outcome == "suggest"
    assert 2 <= len(reply.suggestions) <= 3
    assert {"telecom_realname", "financial_auth_failed", "liveness"} >= set(reply.suggestions)
    assert reply.text.startswith("您是想问：")
    for number, entry_id in enumerate(reply.suggestions, start=1):
        assert f"{number}. {FAQ.entry(entry_id).title}" in reply.text


@pytest.mark.parametrize(
    "question",
    [
        "今天天气怎么样", "讲个笑话", "中午吃什么好", "推荐几只股票", "社保断缴了怎么办", "公积金怎么贷款",
        "护照过期了", "驾照怎么考", "个税退税怎么弄", "CFCA的证书怎么装", "广东CA多少钱", "银行卡密码忘了",
        "你喜欢我吗", "哈哈哈", "？？？", "", "   ",
    ],
)  # fmt: skip
def test_unrelated_questions_get_an_honest_no_with_the_way_to_a_human(question):
    reply = FAQ.ask(question)
    assert reply.outcome != "answer"
    if reply.outcome == "none":
        assert "人工" in reply.text and "400-112-3838" in reply.text
        assert reply.entry_id is None and reply.suggestions == ()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_gets_a_well_formed_reply(text):
    reply = FAQ.ask(text)
    assert reply.outcome in {"answer", "suggest", "none"}
    assert reply.text
    assert (reply.entry_id is not None) == (reply.outcome == "answer")
    assert (len(reply.suggestions) > 0) == (reply.outcome == "suggest")


# -- personal answers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("payment", "cert_type", "must", "must_not"),
    [
        ("online", "机构证书", ["对公账户", "附言", "财务"], ["短信"]),
        ("online", "机构个人证书", ["对公账户", "附言", "财务", "机构个人证书"], ["短信"]),
        ("transfer", "机构证书", ["短信", "经办人"], ["申请人", "附言"]),
        ("transfer", "机构个人证书", ["短信", "申请人"], ["经办人", "附言"]),
    ],
)
def test_pin_answer_follows_the_users_payment_method_and_certificate_type(payment, cert_type, must, must_not):
    reply = FAQ.ask("PIN码怎么获取", FaqProfile(cert_type=cert_type, payment_method=payment))
    assert reply.entry_id == "pin"
    for word in must:
        assert word in reply.text
    for word in must_not:
        assert word not in reply.text


def test_pin_answer_for_random_code_platforms_explains_the_code():
    profile = FaqProfile(cert_type="机构证书", payment_method="online", post_payment_step="random_code")
    text = FAQ.ask("证书密码在哪", profile).text
    assert "随机验证码" in text and "我的订单" in text


def test_pin_answer_without_a_profile_or_payment_method_is_the_general_one():
    general = FAQ.entry("pin").answer
    assert FAQ.ask("PIN码怎么获取").text == general
    assert FAQ.ask("PIN码怎么获取", FaqProfile(cert_type="机构证书")).text == general


def test_progress_answer_shows_the_real_status():
    profile = FaqProfile(application_number="SZ20261124001", status_text="已驳回：身份证复印件未加盖公章")
    text = FAQ.ask("我的申请到哪一步了", profile).text
    assert "SZ20261124001" in text and "已驳回：身份证复印件未加盖公章" in text
    assert "待审核" in FAQ.ask("审核进度", FaqProfile(status_text="待审核")).text


def test_invoice_answer_names_the_invoice_title():
    text = FAQ.ask("发票怎么开", FaqProfile(invoice_title="深圳市某某科技有限公司")).text
    assert "深圳市某某科技有限公司" in text and "短信" in text


# -- pick -------------------------------------------------------------------------------------------------------
SUGGESTIONS = ("telecom_realname", "financial_auth_failed", "liveness")


@pytest.mark.parametrize(
    ("reply", "entry_id"),
    [("1", "telecom_realname"), ("2", "financial_auth_failed"), (" 3 ", "liveness"), ("第二个", "financial_auth_failed"),
     ("２", "financial_auth_failed"), ("②", "financial_auth_failed"), ("三", "liveness"), ("选1", "telecom_realname"),
     ("3.", "liveness")],
)  # fmt: skip
def test_pick_a_numbered_suggestion(reply, entry_id):
    picked = FAQ.pick(SUGGESTIONS, reply)
    assert picked is not None
    assert (picked.outcome, picked.entry_id) == ("answer", entry_id)


@pytest.mark.parametrize("reply", ["4", "0", "第五个", "张三", "PIN码怎么获取", "12", "", "1和2"])
def test_pick_returns_none_for_anything_else(reply):
    assert FAQ.pick(SUGGESTIONS, reply) is None


def test_pick_is_personalised_and_survives_a_vanished_entry():
    picked = FAQ.pick(["invoice"], "1", FaqProfile(invoice_title="某某公司"))
    assert picked is not None and "某某公司" in picked.text
    assert FAQ.pick(["entry_removed_by_a_reload"], "1") is None


# -- hook -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["张三", "110105194912310021", "11010519491231002X", "13800138000", "138 0013 8000", "深圳市某某科技有限公司",
     "zhangsan@qq.com", "机构证书", "公对公", "3", "广东省深圳市南山区高新中二路", "发票", "PIN码"],
)  # fmt: skip
def test_hook_never_eats_a_form_value(value):
    assert FAQ.hook(value) is None


def test_hook_answers_a_confident_question_only():
    assert FAQ.hook("PIN码怎么获取？") == FAQ.entry("pin").answer
    assert FAQ.hook("审核要多久") == FAQ.entry("review_time").answer
    assert FAQ.hook("今天天气怎么样？") is None
    assert FAQ.hook("认证失败怎么办") is None  # ambiguous: the form goes on, no suggestions mid-form
