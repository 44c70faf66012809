"""The engine's behaviour at any prompt: commands, multi-value messages, FAQ questions, errors, offers."""

from __future__ import annotations

import datetime

import dialogs
from dialogs import engine
from dialogs import messages as M
from dialogs.engine import Choice, DialogState, Field, Form, Section
from tests.dialogs.conftest import APPLICANT_IDS, CTX, HANDLER_ID, LEGAL_ID, TYPICAL, USCC, Chat

ORG = {**TYPICAL, "platform": "深圳公共资源交易平台", "cert_type": "机构证书"}


def at(key: str, answers: dict | None = None) -> Chat:
    """A chat on 深圳公共资源 / 机构证书 that has answered everything before `key`."""
    chat = Chat()
    chat.start()
    chat.fill(answers or ORG, until=lambda c: c.cursor == key)
    assert chat.cursor == key
    return chat


def at_summary() -> Chat:
    chat = Chat()
    chat.start()
    chat.fill(ORG)
    assert chat.state.confirming
    return chat


# --- a toy form: the engine knows nothing of certificates --------------------------------------------------------


def test_the_engine_walks_any_declared_form():
    toy = Form(
        name="toy",
        sections={"pets": Section("宠物")},
        fields=(
            Field("size", "大小", prompt="多大？", kind="choice", choices=(Choice("s", "小"), Choice("l", "大"))),
            Field("pets", "宠物", kind="list", item_label="宠物", group="pet",
                  items=(Field("name", "名字", prompt="叫什么？"),)),
            Field("note", "备注", prompt="备注？", optional=True, when=lambda a: a.get("size") == "l"),
        ),
        build=lambda a, ctx: {"size": a["size"], "n": sum(1 for k in a if k.endswith(".name"))},
    )
    state = DialogState(form="toy")
    step = engine.begin(toy, state, CTX)
    assert "1. 小" in step.replies[0]
    for text in ("大", "旺财", "是", "咪咪", "否", "跳过"):
        step = engine.step(toy, step.state, text, CTX)
    assert step.state.confirming and "【宠物2】" in step.replies[0]
    done = engine.step(toy, step.state, "确认", CTX)
    assert done.state is None and done.completed == {"size": "l", "n": 2}


# --- commands -----------------------------------------------------------------------------------------------------


def test_cancel_asks_first_and_no_keeps_everything():
    chat = at("handler.name")
    before = dict(chat.answers)
    assert chat.say("取消") == M.CANCEL_CONFIRM
    reply = chat.say("否")
    assert M.CANCEL_KEPT in reply and "经办人姓名" in reply
    assert chat.answers == before and chat.cursor == "handler.name"


def test_cancel_then_yes_drops_the_draft():
    chat = at("handler.name")
    chat.say("退出")
    chat.say("是")
    assert chat.state is None and chat.effects == [dialogs.DraftDropped()]
    assert M.CANCELLED in chat.replies


def test_back_goes_to_the_previous_answer_and_returns():
    chat = at("handler.name")
    reply = chat.say("上一步")
    assert chat.cursor == "legal.mobile" and "当前：139****5678" in reply
    chat.say("13711112222")
    assert chat.answers["legal.mobile"] == "13711112222"
    assert chat.cursor == "handler.name"


def test_back_from_the_summary_and_at_the_start():
    chat = at_summary()
    chat.say("返回")
    assert chat.cursor == "invoice.kind" and not chat.state.confirming
    first = Chat()
    first.start()
    first.say("同意")
    reply = first.say("上一步")
    assert M.BACK_AT_START in reply and first.cursor == "platform"


def test_skip_only_optional_fields():
    chat = at("unit.name")
    reply = chat.say("跳过")
    assert M.SKIP_NOT_ALLOWED in reply and chat.cursor == "unit.name"
    summary = at_summary()
    summary.say("修改 邮编")
    assert summary.cursor == "mailing.postcode"
    summary.say("跳过")
    assert summary.state.confirming and summary.answers["mailing.postcode"] is None


def test_modify_at_the_summary_then_back_to_the_summary():
    chat = at_summary()
    reply = chat.say("修改 经办人手机")
    assert chat.cursor == "handler.mobile" and "138****8000" in reply
    chat.say("13912340000")
    assert chat.state.confirming and "139****0000" in "\n".join(chat.replies)
    chat.say("确认")
    assert chat.submitted().handler.mobile == "13912340000"


def test_modify_by_loose_or_ambiguous_or_unknown_name():
    chat = at_summary()
    assert "法人手机号" in chat.say("修改 手机") and "经办人手机号" in chat.replies[0]
    assert chat.state.confirming
    assert "没找到" in chat.say("修改 宠物名字")
    chat.say("修改 开户行")
    assert chat.cursor == "finance.bank"
    chat.say("建行")
    assert chat.answers["finance.bank"] == "中国建设银行" and chat.state.confirming
    chat.say("修改")
    assert "可修改" in chat.replies[0]


def test_modify_the_cert_type_asks_only_what_the_new_type_needs():
    chat = at_summary()
    chat.say("修改 证书类型")
    reply = chat.say("自然人")
    assert chat.cursor == "person.name" and "【申请人（自然人）】" in reply
    chat.fill(ORG)
    summary = "\n".join(chat.replies)
    assert "机构名称" not in summary and "王五" in summary
    chat.say("确认")
    app = chat.submitted()
    assert app.cert_type_id == "person" and app.unit is None


def test_modify_the_unit_id_type_changes_its_validation():
    chat = at_summary()
    chat.say("修改 证件类型")
    chat.say("事业单位")
    chat.say("修改 证件号码")
    chat.say("12440300455765321X")  # not a valid USCC, accepted as another certificate number
    assert chat.answers["unit.id_number"] == "12440300455765321X"
    assert chat.state.confirming


def test_pause_and_continue():
    chat = at("handler.email")
    assert chat.say("暂停") == M.PAUSED
    chat.say("PIN码怎么获取")
    assert not chat.claimed  # a paused draft lets other texts reach the FAQ
    chat.say("今天天气")
    assert not chat.claimed and chat.state.paused
    reply = chat.say("继续")
    assert chat.claimed and chat.cursor == "handler.email" and "邮箱" in reply


def test_continue_resumes_at_the_first_missing_field():
    chat = at("handler.email")
    chat.say("修改 法人姓名")  # wandered off to another field, then saved for later
    chat.say("暂停")
    chat.say("继续")
    assert chat.cursor == "handler.email"


def test_help_explains_and_asks_again():
    chat = at("handler.mobile")
    reply = chat.say("帮助")
    assert "正在填写：经办人手机号" in reply and "实名" in reply and "上一步" in reply
    assert chat.replies[-1].startswith("请输入经办人手机号") and chat.cursor == "handler.mobile"


def test_handoff_is_an_effect_and_keeps_the_draft():
    chat = at("unit.address")
    chat.say("转人工")
    assert chat.effects == [dialogs.Handoff()]
    assert chat.state is not None and chat.answers["unit.name"] and chat.state.paused
    chat.say("继续")
    assert chat.cursor == "unit.address"


# --- answers ------------------------------------------------------------------------------------------------------


def test_one_message_fills_the_section():
    chat = at("handler.name")
    chat.say(f"张三 {HANDLER_ID} 13800138000 zs@qq.com 经理")
    a = chat.answers
    assert (a["handler.name"], a["handler.id"], a["handler.mobile"]) == ("张三", HANDLER_ID, "13800138000")
    assert (a["handler.email"], a["handler.title"]) == ("zs@qq.com", "经理")
    assert chat.cursor == "finance.bank"


def test_one_message_in_any_order_and_with_a_wrong_id():
    chat = at("legal.name")
    bad = LEGAL_ID[:-1] + ("0" if LEGAL_ID[-1] != "0" else "1")
    reply = chat.say(f"13912345678 陈明 {bad}")
    assert "法人身份证号：身份证号第18位校验码不对，请核对" in reply
    assert "已记下" in reply and chat.cursor == "legal.id"
    assert chat.answers["legal.name"] == "陈明" and chat.answers["legal.mobile"] == "13912345678"


def test_a_wrong_value_says_what_is_wrong_and_keeps_the_rest():
    chat = at("handler.id")
    before = dict(chat.answers)
    reply = chat.say("440301199001011235")
    assert reply.startswith("身份证号第18位校验码不对，请核对")
    assert chat.cursor == "handler.id" and chat.answers == before
    assert "手机号应为11位" in chat.say(HANDLER_ID) + chat.say("1380013800")
    assert chat.answers["handler.id"] == HANDLER_ID


def test_an_address_with_spaces_is_one_answer():
    chat = at("unit.address")
    chat.say("广东省 深圳市 南山区 高新中二路8号")
    assert chat.answers["unit.address"]["district"] == "南山区"


def test_a_question_mid_form_is_answered_and_the_prompt_repeated():
    chat = at("unit.name")
    before = dict(chat.answers)
    chat.say("PIN码怎么获取")
    assert chat.replies[0].startswith("证书PIN码") and "机构名称" in chat.replies[1]
    assert chat.answers == before and chat.cursor == "unit.name"
    # At a choice prompt an unrecognised text is tried against the FAQ too.
    chat2 = at("years")
    chat2.say("证书PIN")
    assert chat2.replies[0].startswith("证书PIN码") and chat2.cursor == "years"


def test_loose_choices():
    chat = Chat()
    chat.start()
    chat.say("同意")
    chat.say("公共资源")
    assert chat.answers["platform"] == "szggzy"
    chat.say("机构个人")
    assert chat.answers["cert_type"] == "org_person"
    chat.say("五年")
    assert chat.answers["years"] == 5
    chat2 = at("years")
    assert M.CHOICE_BAD in chat2.say("很多年")
    assert chat2.cursor == "years"


def test_bank_search_suggests_and_picks_by_number():
    chat = at("finance.bank")
    reply = chat.say("农商")
    assert M.CHOICE_AMBIGUOUS in reply and "深圳农村商业银行" in reply
    number = next(line.split(".")[0] for line in reply.splitlines() if "深圳农村商业银行" in line)
    chat.say(number)
    assert chat.answers["finance.bank"] == "深圳农村商业银行"
    chat2 = at("finance.bank")
    chat2.say("工行")
    assert chat2.answers["finance.bank"] == "中国工商银行"
    chat3 = at("finance.bank")
    chat3.say("招商银行深圳分行")
    assert chat3.answers["finance.bank"] == "招商银行"


def test_mailing_accepts_the_unit_address_as_default():
    chat = at("mailing.address")
    assert "直接回复“好”使用：广东省深圳市南山区" in chat.replies[-1]
    chat.say("同上 518057")
    assert chat.answers["mailing.address"] == chat.answers["unit.address"]
    assert chat.answers["mailing.postcode"] == "518057"


def test_applicants_must_be_different_people():
    chat = at("applicants.0.name", {**ORG, "cert_type": "机构个人"})
    chat.say(f"李四 {APPLICANT_IDS[0]} 13700137000")
    chat.say("是")
    reply = chat.say(f"赵六 {APPLICANT_IDS[1]} 13700137000")
    assert "与申请人1相同" in reply and chat.cursor == "applicants.1.mobile"


def test_offer_values_from_a_licence_photo():
    chat = at("unit.name")
    result = dialogs.offer(chat.state, {
        "unit.name": "深圳市电子商务安全证书管理有限公司", "unit.id_number": USCC,
        "unit.address": "深圳市南山区高新中二路深圳软件园8栋301号", "legal.name": "陈明",
        "handler.id": "123",  # a misread: not offered
    }, CTX, "营业执照照片")
    text = "\n".join(result.replies)
    assert "营业执照照片" in text and "统一社会信用代码" not in text or USCC in text
    assert "经办人身份证号" not in text
    chat.state = result.state
    chat.say("是")
    assert chat.answers["unit.id_number"] == USCC and chat.answers["legal.name"] == "陈明"
    assert chat.cursor == "legal.id"
    declined = dialogs.offer(at("unit.name").state, {"unit.name": "某某有限公司"}, CTX, "照片")
    after = dialogs.handle(declined.state, "否", CTX)
    assert "unit.name" not in after.state.answers and after.state.cursor == "unit.name"
    assert dialogs.offer(None, {"unit.name": "x"}, CTX, "照片").claimed is False


def test_confirm_words_and_anything_else_at_the_summary():
    chat = at_summary()
    reply = chat.say("嗯嗯")
    assert reply == M.CONFIRM_BAD and chat.state.confirming
    chat.say("PIN码怎么获取")
    assert chat.replies[0].startswith("证书PIN码")
    chat.say("提交")
    assert chat.submitted().platform == "szggzy"


def test_a_start_word_in_the_middle_asks_continue_or_restart():
    chat = at("legal.name")
    reply = chat.say("申请证书")
    assert "未完成的申请（深圳公共资源交易平台 机构证书" in reply
    assert M.RESUME_BAD in chat.say("随便")
    chat.say("继续")
    assert chat.cursor == "legal.name"


def test_consent_time_falls_back_to_today_without_now():
    ctx = dialogs.DialogContext(today=datetime.date(2026, 1, 2))
    r = dialogs.start(None, ctx)
    r = dialogs.handle(r.state, "同意", ctx)
    assert r.state.answers["consent"] == "2026-01-02T00:00:00"


def test_an_applicant_can_be_added_at_the_summary():
    chat = Chat()
    chat.start()
    chat.fill({**ORG, "cert_type": "机构个人"})
    chat.say("修改 添加申请人")
    assert chat.cursor == "applicants.0.more"
    chat.say("是")
    assert chat.cursor == "applicants.1.name"
    chat.say(f"孙七 {APPLICANT_IDS[2]} 13300133000")
    assert chat.cursor == "applicants.1.more"
    chat.say("否")
    assert chat.state.confirming and "【申请人2】" in "\n".join(chat.replies)


def test_platform_type_and_years_in_one_message():
    chat = Chat()
    chat.start()
    chat.say("同意")
    chat.say("一诺 机构个人 两年")
    assert (chat.answers["platform"], chat.answers["cert_type"], chat.answers["years"]) == ("yinuo", "org_person", 2)
    assert chat.cursor == "unit.name"


def test_an_offer_lapses_when_the_user_types_something_else():
    chat = at("unit.name")
    result = dialogs.offer(chat.state, {"unit.name": "某某有限公司"}, CTX, "照片")
    chat.state = result.state
    chat.say("深圳市另一家科技有限公司")
    assert chat.answers["unit.name"] == "深圳市另一家科技有限公司" and chat.state.pending is None


def test_long_summaries_are_split_within_wechat_limits():
    lines = [f"第{i}行：" + "很长的内容" * 20 for i in range(40)]
    parts = engine.pack(lines)
    assert len(parts) > 1 and all(len(p.encode()) <= engine.MAX_REPLY_BYTES for p in parts)
    assert "\n".join(parts) == "\n".join(lines)


def test_cancel_at_the_continue_or_restart_question():
    chat = at("legal.name")
    chat.start()
    assert chat.say("取消") == M.CANCEL_CONFIRM
    chat.say("是")
    assert chat.state is None


def test_numbers_typed_in_groups_are_one_value():
    assert engine._split("张三 139 1234 5678 zs@qq.com") == ["张三", "13912345678", "zs@qq.com"]
    assert engine._split("招商银行 6222 0212 3456 7890 123") == ["招商银行", "6222021234567890123"]
    chat = at("handler.name")
    chat.say("张三 138 0013 8000 经理 440301 19900101 1234 zs@qq.com")
    assert chat.answers["handler.mobile"] == "13800138000" and chat.answers["handler.id"] == HANDLER_ID


def test_a_phrase_containing_several_choice_names_means_the_longest():
    chat = at("cert_type")
    chat.say("我要办机构个人的")
    assert chat.answers["cert_type"] == "org_person"


def test_defaults_follow_the_field_they_came_from():
    chat = at("mailing.address")
    chat.say("同上")
    chat.fill(ORG)
    chat.say("修改 机构名称")
    chat.say("深圳市新名称科技有限公司")
    a = chat.answers
    assert a["invoice.title"] == a["finance.account_name"] == "深圳市新名称科技有限公司"
    chat.say("修改 单位地址")
    chat.say("广东省深圳市福田区深南大道1号")
    assert chat.answers["mailing.address"] == {"province": "广东省", "city": "深圳市", "district": "福田区",
                                               "detail": "深南大道1号"}
    # A value the user typed is theirs: it does not follow.
    chat.say("修改 发票抬头")
    chat.say("某某集团有限公司")
    chat.say("修改 机构名称")
    chat.say("深圳市第三名称有限公司")
    assert chat.answers["invoice.title"] == "某某集团有限公司"


def test_a_cert_type_the_new_platform_lacks_is_asked_again():
    chat = at_summary()
    chat.say("修改 证书类型")
    chat.say("机构个人")
    chat.fill(ORG)
    chat.say("修改 项目")
    reply = chat.say("深圳广电采购")
    assert chat.answers["cert_type"] == "org" and "只办理机构证书" in reply


def test_every_command_word_is_recognised():
    expected = {
        "取消": "cancel", "退出": "cancel", "放弃申请": "cancel", "上一步": "back", "返回": "back",
        "跳过": "skip", "帮助": "help", "？": "help", "人工": "handoff", "转人工": "handoff", "人工客服": "handoff",
        "继续": "resume", "继续填写": "resume", "暂停": "pause", "稍后": "pause", "修改": "modify",
    }
    for word, name in expected.items():
        assert engine.command(word) == (name, ""), word
    assert engine.command("修改 经办人手机") == ("modify", "经办人手机")
    assert engine.command("改 邮箱") == ("modify", "邮箱") and engine.command("改革路8号") is None
    assert engine.command("张三") is None and engine.command("取消订单怎么办") is None


def test_handoff_word_without_a_draft_is_left_to_the_handler():
    result = dialogs.handle(None, "人工", CTX)
    assert not result.claimed and result.effects == []


def test_no_words_answer_the_add_another_question():
    chat = at("applicants.0.name", {**ORG, "cert_type": "机构个人"})
    chat.say(f"李四 {APPLICANT_IDS[0]} 13700137000")
    chat.say("没有")
    assert chat.answers["applicants.0.more"] is False
