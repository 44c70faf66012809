"""Field validators with real valid and invalid identifiers; checksums exercised with hypothesis."""

from __future__ import annotations

import datetime
import string

import pytest
from hypothesis import assume, given, settings, strategies as st
from stdnum.cn import ric, uscc as stdnum_uscc

from dialogs import messages as M
from dialogs import validators as v
from dialogs.masking import mask_account, mask_id, mask_mobile
from tests.dialogs.conftest import HANDLER_ID, make_id, make_uscc

# Region codes that existed for every birth year generated below (Beijing, Shanghai, Shenzhen old districts).
REGIONS = ["110101", "110105", "110108", "310101", "310104", "440301", "440303", "440304"]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _err(fn, raw: str) -> str:
    with pytest.raises(v.Invalid) as e:
        fn(raw)
    return e.value.message


def _region_existed(region: str, year: int) -> bool:
    # stdnum knows when each region code was in use; a code used outside its years is rightly refused.
    try:
        ric.get_birth_place(f"{region}{year}0101000" + "0")
    except Exception:  # stdnum raises InvalidComponent; any failure means "not a usable code here"
        return False
    return True


@st.composite
def id_bodies(draw) -> str:
    region = draw(st.sampled_from(REGIONS))
    birth = draw(st.dates(datetime.date(1950, 1, 1), datetime.date(2008, 12, 31)))
    assume(_region_existed(region, birth.year))
    seq = draw(st.integers(0, 999))
    return f"{region}{birth:%Y%m%d}{seq:03d}"


@given(id_bodies())
@settings(max_examples=200, deadline=None)
def test_generated_valid_ids_are_accepted(body: str):
    number = body + ric.calc_check_digit(body + "0")
    assert v.id_number(number) == number
    assert v.id_number(number.lower()) == number  # a lower-case x is the same X


@given(id_bodies(), st.data())
@settings(max_examples=200, deadline=None)
def test_an_id_with_one_character_changed_is_rejected(body: str, data):
    number = body + ric.calc_check_digit(body + "0")
    pos = data.draw(st.integers(0, 17))
    alphabet = "0123456789X" if pos == 17 else "0123456789"
    new = data.draw(st.sampled_from([c for c in alphabet if c != number[pos]]))
    mutated = number[:pos] + new + number[pos + 1:]
    with pytest.raises(v.Invalid):
        v.id_number(mutated)


# GB 32100: registration authority and type, then a 6-digit region code, then 9 characters and the check.
uscc_bodies = st.builds(
    lambda head, region, org: head + region + org,
    st.sampled_from(["91", "92", "93", "11", "12", "51", "52"]),
    st.text("0123456789", min_size=6, max_size=6),
    st.text(USCC_ALPHABET, min_size=9, max_size=9),
)


@given(uscc_bodies)
@settings(max_examples=200, deadline=None)
def test_generated_valid_usccs_are_accepted(body: str):
    code = make_uscc(body)
    assert stdnum_uscc.is_valid(code)
    assert v.uscc(code) == code
    assert v.tax_id(code) == code


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_a_uscc_with_one_character_changed_is_rejected(data):
    code = "91440300723038758B"
    pos = data.draw(st.integers(0, 17))
    new = data.draw(st.sampled_from([c for c in USCC_ALPHABET if c != code[pos]]))
    with pytest.raises(v.Invalid):
        v.uscc(code[:pos] + new + code[pos + 1:])


def test_id_number_messages_say_what_is_wrong():
    assert _err(v.id_number, "110105194912310021") == M.ID_CHECKSUM  # the example has a bad check digit
    assert v.id_number("11010519491231002X") == "11010519491231002X"
    assert _err(v.id_number, "11010519491231002") == M.ID_LENGTH
    assert _err(v.id_number, "1101051949123100AX") == M.ID_FORMAT
    assert _err(v.id_number, make_id("11010519490231002")) == M.ID_BIRTH  # 31 February
    assert _err(v.id_number, make_id("99999919900101002")) == M.ID_PLACE
    future = make_id("11010520991231002")
    assert _err(v.id_number, future) == M.ID_BIRTH
    assert v.id_number(" 4403 0119 9001 0112 34 ") == HANDLER_ID


def test_uscc_messages():
    assert v.uscc("91440300723038758b") == "91440300723038758B"
    assert _err(v.uscc, "91440300723038758C") == M.USCC_CHECKSUM
    assert _err(v.uscc, "9144030072303875") == M.USCC_LENGTH
    assert _err(v.uscc, "91440300723038758I") in (M.USCC_FORMAT, M.USCC_CHECKSUM)


def test_mobile_is_a_mainland_mobile():
    assert v.mobile("13800138000") == "13800138000"
    assert v.mobile("+86 138-0013-8000") == "13800138000"
    assert v.mobile("１３８００１３８０００") == "13800138000"  # full-width digits from a Chinese keyboard
    for bad in ("12345678901", "1380013800", "075586001234", "02012345678", "+85291234567", "abc"):
        assert _err(v.mobile, bad) == M.MOBILE_BAD


def test_email():
    assert v.email("ZhangSan@QQ.com") == "zhangsan@qq.com"
    assert v.email("a.b+c@mail.szca.com.cn") == "a.b+c@mail.szca.com.cn"
    for bad in ("zhangsan", "zs@qq", "@qq.com", "zs@@qq.com", "zs@qq..com"):
        assert _err(v.email, bad) == M.EMAIL_BAD


def test_postcode_and_account():
    assert v.postcode("518057") == "518057"
    for bad in ("51805", "5180570", "51805a"):
        assert _err(v.postcode, bad) == M.POSTCODE_BAD
    assert v.account("6222 0212 3456 7890 123") == "6222021234567890123"
    assert v.account("4000-0211-09") == "4000021109"
    for bad in ("1234567", "1" * 33, "6222abcd12345678"):
        assert _err(v.account, bad) == M.ACCOUNT_BAD


def test_names_and_unit_name():
    assert v.person_name("张三") == "张三"
    assert v.person_name("买买提·艾力") == "买买提·艾力"
    for bad in ("张", "张三3", "", "张三!"):
        with pytest.raises(v.Invalid):
            v.person_name(bad)
    assert v.unit_name(" 深圳市电子商务安全证书管理有限公司 ") == "深圳市电子商务安全证书管理有限公司"
    for bad in ("", "  ", "深", "123456"):
        with pytest.raises(v.Invalid):
            v.unit_name(bad)


def test_address_recognises_province_city_district():
    a = v.address("广东省深圳市南山区高新中二路8号")
    assert a == {"province": "广东省", "city": "深圳市", "district": "南山区", "detail": "高新中二路8号"}
    assert v.address("深圳市福田区福华一路1号")["province"] == "广东省"
    b = v.address("北京市朝阳区建国路1号")
    assert (b["province"], b["city"], b["district"]) == ("北京市", "北京市", "朝阳区")
    c = v.address("山西省太原市小店区长风街1号")
    assert (c["province"], c["city"], c["district"]) == ("山西省", "太原市", "小店区")
    assert v.address("内蒙古鄂尔多斯市东胜区xx路")["province"] == "内蒙古自治区"
    assert _err(v.address, "南山区科技园") == M.ADDRESS_NO_REGION
    assert _err(v.address, "广东省深圳市") == M.ADDRESS_SHORT


def test_years_yes_no_tax_id_text():
    assert v.years("五年") == 5 and v.years("3") == 3 and v.years("2年") == 2
    assert _err(v.years, "6") == M.YEARS_BAD
    assert v.yes_no("好的") is True and v.yes_no("不需要") is False
    assert _err(v.yes_no, "也许") == M.YESNO_BAD
    assert v.tax_id("440301123456789") == "440301123456789"
    assert _err(v.tax_id, "12345") == M.TAX_ID_BAD
    assert _err(v.text, " ") == M.EMPTY
    assert _err(lambda t: v.text(t, max_len=5), "一二三四五六") == M.TEXT_TOO_LONG.format(n=5)


def test_org_id_for_other_certificates():
    assert v.org_id("12440300-45576532-X") == "1244030045576532X"
    assert _err(v.org_id, "ab") == M.ORG_ID_BAD


def test_recognisers_for_multi_value_messages():
    assert v.looks_like_id(HANDLER_ID) and v.looks_like_id("110105194912310021")  # shape, not checksum
    assert not v.looks_like_id("13800138000")
    assert v.looks_like_mobile("13800138000") and not v.looks_like_mobile(HANDLER_ID)
    assert v.looks_like_email("a@b.cn") and not v.looks_like_email("张三")
    assert v.looks_like_postcode("518057") and not v.looks_like_postcode("13800138000")
    assert v.looks_like_account("755912345678901") and not v.looks_like_account("13800138000")
    assert v.looks_like_uscc("91440300723038758B")
    assert v.looks_like_unit_name("深圳市某某科技有限公司")


def test_masks_never_show_the_whole_number():
    assert mask_id("44030119900101123X") == "4403**********123X"
    assert mask_mobile("13800138000") == "138****8000"
    assert mask_account("6222 0212 3456 7890 123") == "****0123"
    assert mask_id("") == "" and mask_mobile(None) == "" and mask_account("12") == "**"
    for s in (string.digits * 2,):
        assert s not in mask_id(s)
