"""The printable PDFs: each variant of the application form, 山西's 授权委托书 and the 印模采集表, read back as text."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader

import dialogs
from bot import forms
from tests.dialogs.conftest import APPLICANT_IDS, HANDLER_ID, LEGAL_ID, PERSON_ID, TYPICAL, USCC, Chat

NUMBER = "SZ20261124000123"
TODAY = date(2026, 11, 24)
# Not TYPICAL's (SZCA's own name, which the footer prints on every form): the unit must be told apart.
UNIT = "深圳市南山示例科技有限公司"
# The part of the delegation every unit form carries, whatever wraps where.
DELEGATION = "为我方代理人，以我方名义办理数字证书的有关事宜"
UNDERTAKING = "电子认证服务协议》的各项内容之规定"


def apply(platform: str, answers: dict[str, str] | None = None, *,
          holders: tuple[tuple[str, str, str], ...] = ()) -> dialogs.Application:
    """Drive the dialogue to a submitted application; holders are extra (name, id, years) for 山西."""
    chat = Chat()
    chat.start(platform)
    script = {**TYPICAL, "unit.name": UNIT, **(answers or {})}
    if holders:
        chat.fill(script, until=lambda c: c.cursor == "holders")
        chat.say("是")
        for i, (name, id_number, years) in enumerate(holders):
            chat.fill(script, until=lambda c: c.cursor == f"applicants.{i}.name")
            chat.say(f"{name} {id_number} 1350013500{i} {years}")
            chat.say("是" if i + 1 < len(holders) else "否")
    chat.fill(script)
    chat.say("确认")
    return chat.submitted()


def read(pdf: bytes) -> tuple[int, str]:
    """Page count and the text with every line break and space removed (wrapping splits words anywhere)."""
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    reader = PdfReader(io.BytesIO(pdf))
    text = "".join(page.extract_text() for page in reader.pages)
    return len(reader.pages), re.sub(r"\s+", "", text)


def test_org_form_szggzy_has_every_part_and_the_full_ids():
    app = apply("szggzy", {"cert_type": "机构证书"})
    pdf = forms.application_form(app, NUMBER, TODAY)
    pages, text = read(pdf)
    assert pages == 1
    assert forms.form_title(app) == "机构数字证书申请表" and forms.form_kind(app) == "application_form"
    for expected in ("机构数字证书申请表", NUMBER, "I.证书信息", "II.单位基本信息", "III.经办人信息",
                     "IV.申请单位法定代表人授权委托及单位声明", "新申请", "3年", "机构证书", f"{app.total_yuan:,.2f}元",
                     UNIT, USCC, "统一社会信用代码证", "广东省深圳市南山区高新中二路深圳软件园8栋301",
                     "张三", "13800138000", "zhangsan@qq.com", "陈明",
                     # A legal document the applicant signs: the hall prints the full numbers.
                     HANDLER_ID, LEGAL_ID, "职位：办事员", DELEGATION, UNDERTAKING,
                     "委托期限：自2026年11月24日起至委托事项办结", "经办人手写签名", "申请日期：2026年11月24日", "单位公章",
                     "深圳市电子商务安全证书管理有限公司·客服热线400-112-3838"):
        assert expected in text, expected
    assert "申请人信息" not in text
    assert forms.application_form(app, NUMBER, TODAY) == pdf  # deterministic: no timestamps inside


def test_org_person_form_szggzy_lists_the_applicant_in_part_iv():
    app = apply("szggzy", {"cert_type": "机构个人证书"})
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1 and forms.form_title(app) == "机构(个人)数字证书申请表"
    for expected in ("机构(个人)数字证书申请表", "IV.申请人信息", "李四", APPLICANT_IDS[0], "13700137000",
                     "V.申请单位法定代表人授权委托及单位声明", UNIT, "张三", DELEGATION):
        assert expected in text, expected


def test_person_form_has_no_unit_and_only_a_signature():
    app = apply("szggzy", {"cert_type": "自然人证书"})
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1 and forms.form_title(app) == "自然人数字证书申请表"
    for expected in ("自然人数字证书申请表", NUMBER, "自然人证书", "王五", PERSON_ID, "13600136000", "wangwu@163.com",
                     "本人承诺所填写的内容", UNDERTAKING, "申请人手写签名", "申请日期：2026年11月24日"):
        assert expected in text, expected
    for absent in ("单位基本信息", "单位公章", "经办人", "法定代表人", UNIT):
        assert absent not in text, absent


def test_yinuo_org_person_with_two_applicants_sharing_the_years():
    chat = Chat()
    chat.start("一诺")
    script = {**TYPICAL, "unit.name": UNIT, "cert_type": "机构个人", "applicants.more": "是"}
    chat.fill(script, until=lambda c: c.cursor == "applicants.1.name")
    chat.fill({**script, "applicants.more": "否", "applicants.name": "孙七", "applicants.id": APPLICANT_IDS[2],
               "applicants.mobile": "13300133000"})
    chat.say("确认")
    app = chat.submitted()
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1
    for expected in ("机构(个人)数字证书申请表", "一诺软件招投标", "机构个人证书", f"{app.total_yuan:,.2f}元",
                     "1李四", APPLICANT_IDS[0], "13700137000", "2孙七", APPLICANT_IDS[2], "13300133000", "IV.申请人信息",
                     "V.申请单位法定代表人授权委托及单位声明", UNIT):
        assert expected in text, expected
    assert text.count("3年") == 3  # the common years, then each holder's row


def test_shanxi_org_with_two_holders_prints_the_authorisation_letter_instead():
    app = apply("sxgq", {"cert_type": "机构证书"},
                holders=(("李四", APPLICANT_IDS[0], "2年"), ("赵六", APPLICANT_IDS[1], "5年")))
    assert [(a.name, a.years) for a in app.applicants] == [("李四", 2), ("赵六", 5)]
    assert forms.form_kind(app) == "authorization_letter" and forms.form_title(app) == "单位授权委托书"
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1
    for expected in ("单位授权委托书", NUMBER, "致：深圳市电子商务安全证书管理有限公司", "山西国企阳光招采",
                     "证书年限", "3年", "同时办理机构个人证书2张", UNIT, USCC, "陈明", LEGAL_ID, "张三", HANDLER_ID,
                     "五、机构个人证书申请人", "李四", APPLICANT_IDS[0], "2年", "赵六", APPLICANT_IDS[1], "5年",
                     DELEGATION, "委托期限：自2026年11月24日起", "法定代表人签字", "经办人签字", "单位公章",
                     f"{app.total_yuan:,.2f}元"):
        assert expected in text, expected
    assert "数字证书申请表" not in text


def test_shanxi_holders_only_has_no_common_years():
    app = apply("sxgq", {"cert_type": "机构个人"})
    assert app.years is None
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1 and "单位授权委托书" in text and "机构个人证书" in text and "李四" in text and "2年" in text


def test_szgd_org_form():
    app = apply("szgd")
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1 and "深圳广电采购" in text and "机构数字证书申请表" in text and DELEGATION in text


def test_gws_org_form_says_whether_the_seal_is_taken():
    app = apply("gws", {"seal": "是"})
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1 and "建筑工务署承包商资信" in text and "电子签章办理" in text
    without = apply("gws", {"seal": "否"})
    assert "电子签章不办理" in read(forms.application_form(without, NUMBER, TODAY))[1]


def test_a_very_long_name_and_address_wrap_inside_their_cells():
    app = apply("szggzy", {"cert_type": "机构证书"})
    long_name = "深圳市" + "前海深港现代服务业合作区国际供应链科技创新" * 4 + "有限公司"
    long_address = "前海路" + "前海深港合作区南山街道桂湾片区二单元前海卓越金融中心" * 5 + "T1栋4501室"
    assert app.unit is not None
    app = app.model_copy(update={"unit": app.unit.model_copy(update={"name": long_name, "address": long_address}),
                                 "handler": app.handler.model_copy(update={"email": "a" * 60 + "@example.com"})})
    pages, text = read(forms.application_form(app, NUMBER, TODAY))
    assert pages == 1 and long_name in text and long_address in text and "a" * 60 + "@example.com" in text


def test_many_holders_flow_onto_a_second_page_with_the_heading_repeated():
    app = apply("sxgq", {"cert_type": "机构个人"})
    one = app.applicants[0]
    many = [one.model_copy(update={"name": f"申请人{i:02d}"}) for i in range(30)]
    pages, text = read(forms.application_form(app.model_copy(update={"applicants": many}), NUMBER, TODAY))
    assert pages == 2 and "申请人29" in text and text.count("申请人姓名") == 2 and "第2页" in text


def test_seal_form_template_without_an_application():
    pages, text = read(forms.seal_form(None, None))
    assert pages == 1
    for expected in ("数字证书印模采集表", "单位公章", "申请人私章或签名", "2M", "深圳市电子商务安全证书管理有限公司"):
        assert expected in text, expected
    assert "SZ" not in text


@pytest.mark.parametrize("platform,answers,unit_box,names", [
    ("szggzy", {"cert_type": "机构证书"}, True, []),
    ("szggzy", {"cert_type": "机构个人证书"}, True, ["李四"]),
    ("szggzy", {"cert_type": "自然人证书"}, False, ["王五"]),
])
def test_seal_form_prefilled(platform: str, answers: dict[str, str], unit_box: bool, names: list[str]):
    app = apply(platform, answers)
    pages, text = read(forms.seal_form(app, NUMBER))
    assert pages == 1 and NUMBER in text and app.cert_type in text
    assert ("加盖单位公章" in text) is unit_box and (UNIT in text) is unit_box
    for name in names:
        assert f"申请人私章或签名：{name}" in text
