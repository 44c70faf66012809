"""Pure field validators: (raw text) -> clean value, raising Invalid with the Chinese message to show."""

from __future__ import annotations

import datetime
import re
import unicodedata

import phonenumbers
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric, uscc as stdnum_uscc

from dialogs import messages as M
from dialogs import regions


class Invalid(ValueError):
    """A value the user must correct; str(error) is the Chinese message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def normalize(raw: str) -> str:
    """Full-width to half-width (ＡＢＣ１２３, ＠) and trimmed: phones keyboards produce both."""
    return unicodedata.normalize("NFKC", raw).strip()


def _compact(raw: str) -> str:
    return re.sub(r"[\s\-]+", "", normalize(raw))


def text(raw: str, max_len: int = 100) -> str:
    value = re.sub(r"\s+", " ", normalize(raw))
    if not value:
        raise Invalid(M.EMPTY)
    if len(value) > max_len:
        raise Invalid(M.TEXT_TOO_LONG.format(n=max_len))
    return value


_NAME = re.compile(r"^[\u4e00-\u9fff·•A-Za-z][\u4e00-\u9fff·•A-Za-z .]*$")


def person_name(raw: str) -> str:
    value = normalize(raw)
    # Minority and foreign names use the middle dot; nothing else but letters is plausible in a legal name.
    if not (2 <= len(value) <= 20) or not _NAME.match(value):
        raise Invalid(M.NAME_BAD)
    return value.replace("•", "·")


def id_number(raw: str, today: datetime.date | None = None) -> str:
    """GB 11643 resident ID: length, checksum, a real birth date not in the future, a known region code."""
    value = _compact(raw).upper()
    if len(value) != 18:
        raise Invalid(M.ID_LENGTH)
    try:
        ric.validate(value)
    except stdnum_errors.InvalidFormat:
        raise Invalid(M.ID_FORMAT) from None
    except stdnum_errors.InvalidChecksum:
        raise Invalid(M.ID_CHECKSUM) from None
    except stdnum_errors.InvalidComponent:
        # Both the birth date and the region code raise InvalidComponent; tell the user which one.
        try:
            ric.get_birth_date(value)
        except stdnum_errors.InvalidComponent:
            raise Invalid(M.ID_BIRTH) from None
        raise Invalid(M.ID_PLACE) from None
    birth = ric.get_birth_date(value)
    if birth > (today or datetime.date.today()) or birth.year < 1900:
        raise Invalid(M.ID_BIRTH)
    return value


def uscc(raw: str) -> str:
    """GB 32100 unified social credit code with its check character."""
    value = _compact(raw).upper()
    if len(value) != 18:
        raise Invalid(M.USCC_LENGTH)
    try:
        return stdnum_uscc.validate(value)
    except stdnum_errors.InvalidChecksum:
        raise Invalid(M.USCC_CHECKSUM) from None
    except stdnum_errors.ValidationError:
        raise Invalid(M.USCC_FORMAT) from None


def org_id(raw: str) -> str:
    """Other unit certificates (事业单位法人证书, 组织机构代码…): no public checksum, only a sane shape."""
    value = _compact(raw).upper()
    if not re.fullmatch(r"[0-9A-Z]{6,30}", value):
        raise Invalid(M.ORG_ID_BAD)
    return value


def mobile(raw: str) -> str:
    """A mainland China mobile number (phonenumbers, region CN, type MOBILE), returned as 11 digits."""
    value = _compact(raw).removeprefix("+86").removeprefix("0086")
    try:
        number = phonenumbers.parse(value, "CN")
    except phonenumbers.NumberParseException:
        raise Invalid(M.MOBILE_BAD) from None
    if (
        number.country_code != 86
        or not phonenumbers.is_valid_number(number)
        or phonenumbers.number_type(number) != phonenumbers.PhoneNumberType.MOBILE
    ):
        raise Invalid(M.MOBILE_BAD)
    return str(number.national_number)


_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}$")


def email(raw: str) -> str:
    value = _compact(raw)
    if len(value) > 254 or not _EMAIL.match(value):
        raise Invalid(M.EMAIL_BAD)
    return value.lower()


def postcode(raw: str) -> str:
    value = _compact(raw)
    if not re.fullmatch(r"\d{6}", value):
        raise Invalid(M.POSTCODE_BAD)
    return value


def account(raw: str) -> str:
    """Bank account: 8–32 digits; people copy them with spaces or dashes every four digits."""
    value = _compact(raw)
    if not re.fullmatch(r"\d{8,32}", value):
        raise Invalid(M.ACCOUNT_BAD)
    return value


def unit_name(raw: str) -> str:
    value = text(raw, max_len=100)
    if len(value) < 2 or value.isdigit():
        raise Invalid(M.UNIT_NAME_BAD)
    return value


def address(raw: str) -> dict[str, str]:
    """Free address -> {province, city, district, detail}; province and city must be recognisable."""
    value = text(raw, max_len=120)
    region, rest = regions.parse(value)
    if region is None:
        raise Invalid(M.ADDRESS_NO_REGION)
    if len(rest) < 2:
        raise Invalid(M.ADDRESS_SHORT)
    return {"province": region.province, "city": region.city, "district": region.district, "detail": rest}


def years(raw: str) -> int:
    value = _compact(raw).removesuffix("年")
    value = _CN_DIGITS.get(value, value)
    if not value.isdigit() or not 1 <= int(value) <= 5:
        raise Invalid(M.YEARS_BAD)
    return int(value)


_CN_DIGITS = {"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "壹": "1", "贰": "2", "叁": "3", "肆": "4", "伍": "5"}


def tax_id(raw: str) -> str:
    """纳税人识别号: today the USCC; older ones are 15 or 20 characters with no public checksum."""
    value = _compact(raw).upper()
    if len(value) == 18:
        return uscc(value)
    if not re.fullmatch(r"[0-9A-Z]{15}|[0-9A-Z]{20}", value):
        raise Invalid(M.TAX_ID_BAD)
    return value


_YES = {"是", "是的", "对", "对的", "好", "好的", "要", "需要", "同意", "确认", "确定", "y", "yes", "ok", "嗯", "行", "可以", "1"}
_NO = {"否", "不", "不是", "不要", "不需要", "不用", "不同意", "没有", "无", "n", "no", "2"}


def yes_no(raw: str) -> bool:
    value = normalize(raw).lower().rstrip("。.!！")
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise Invalid(M.YESNO_BAD)


# --- recognisers for messages that carry several values ("张三 4403… 138… a@b.cn") -------------------------


def _accepts(fn, raw: str) -> bool:
    try:
        fn(raw)
    except Invalid:
        return False
    return True


def looks_like_id(raw: str) -> bool:
    # Shape only: a wrong checksum still belongs to the ID field, so the user hears what is wrong with it.
    return bool(re.fullmatch(r"\d{17}[\dXx]", _compact(raw)))


def looks_like_uscc(raw: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Za-z]{18}", _compact(raw)))


def looks_like_mobile(raw: str) -> bool:
    return bool(re.fullmatch(r"(\+?86)?1\d{10}", _compact(raw)))


def looks_like_email(raw: str) -> bool:
    return "@" in raw or "＠" in raw


def looks_like_postcode(raw: str) -> bool:
    return bool(re.fullmatch(r"\d{6}", _compact(raw)))


def looks_like_account(raw: str) -> bool:
    value = _compact(raw)
    return value.isdigit() and 8 <= len(value) <= 32 and len(value) not in (11, 18) and not looks_like_postcode(value)


def looks_like_address(raw: str) -> bool:
    return _accepts(address, raw)


def looks_like_unit_name(raw: str) -> bool:
    return bool(re.search(r"(公司|集团|中心|研究院|学院|大学|学校|医院|事务所|合作社|厂|局|委员会|协会|商行|店|部|站|所|院)$", normalize(raw)))
