"""The certificate application: the form declared as data over the engine, and the Application it builds."""

from __future__ import annotations

import dataclasses
import datetime
import re
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from dialogs import catalogue as cat
from dialogs import messages as M
from dialogs import validators as v
from dialogs.engine import Answers, Choice, Field, Form, Section
from dialogs.masking import mask_account, mask_id, mask_mobile

SCHEMA_VERSION = 1

ID_TYPES = (
    Choice("uscc", "统一社会信用代码证", ("统一社会信用代码", "营业执照", "信用代码")),
    Choice("institution", "事业单位法人证书", ("事业单位",)),
    Choice("org_code", "组织机构代码证", ("组织机构代码",)),
    Choice("other", "其他证件", ("其他",)),
)
INVOICE_KINDS = (
    Choice("electronic", "电子发票", ("电子", "开票", "要", "需要", "开")),
    Choice("none", "不开发票", ("否", "不开", "不要", "不需要", "无")),
)


# --- what the answers mean ---------------------------------------------------------------------------------------


def _platform(a: Answers) -> cat.Platform | None:
    pid = a.get("platform")
    return cat.load().platforms.get(pid) if pid else None


def _ct(a: Answers) -> str | None:
    return a.get("cert_type")


def _has_unit(a: Answers) -> bool:
    return _ct(a) in ("org", "org_person")


def _own_years(a: Answers) -> bool:
    p = _platform(a)
    return bool(p and p.holders_with_own_years)


def _has_applicants(a: Answers) -> bool:
    return _ct(a) == "org_person" or (_ct(a) == "org" and a.get("holders") is True)


def _common_years(a: Answers) -> bool:
    return _ct(a) in ("org", "person") or (_ct(a) == "org_person" and not _own_years(a))


def _unit_uscc(a: Answers) -> bool:
    return a.get("unit.id_type", "uscc") == "uscc"


def _show_address(x: Any) -> str:
    if not isinstance(x, dict):
        return str(x)
    return f"{x['province']}{'' if x['city'] == x['province'] else x['city']}{x.get('district', '')}{x['detail']}"


def _yuan(fen: int) -> str:
    return f"¥{Decimal(fen) / 100:,.2f}"


# --- choices that depend on the catalogue ----------------------------------------------------------------------------


def _platform_choices(a: Answers) -> list[Choice]:
    return [Choice(p.id, p.name, p.aliases) for p in cat.load().platforms.values()]


def _cert_type_choices(a: Answers) -> list[Choice]:
    c = cat.load()
    p = _platform(a)
    aliases = {"org": ("机构", "单位证书", "企业证书", "公司证书"), "org_person": ("机构个人", "员工证书", "个人机构证书"),
               "person": ("自然人", "个人证书", "个人")}
    return [Choice(t, c.cert_type_name(t), aliases.get(t, ())) for t in (p.cert_types if p else ())]


def _years_choices(a: Answers) -> list[Choice]:
    p = _platform(a)
    ct = _ct(a)
    cn = "一二三四五"
    out = []
    for y in p.years if p else (1, 2, 3, 4, 5):
        note = ""
        if p and ct and ct in p.cert_types:
            note = _yuan(cat.load().price(p.id, ct, y))
        out.append(Choice(y, f"{y}年", (f"{cn[y - 1]}年", cn[y - 1]), note))
    return out


def _holder_years_choices(a: Answers) -> list[Choice]:
    return _years_choices({**a, "cert_type": "org_person"})


def _looks_like_years(raw: str) -> bool:
    return bool(re.fullmatch(r"[1-5一二三四五两]年", v.normalize(raw)))


def _bank_choices(a: Answers) -> list[Choice]:
    return [Choice(b.name, b.name, b.aliases) for b in cat.load().banks]


def find_bank(text: str) -> str | None:
    """The one bank a free text names ("招行", "中国工商银行深圳分行"), or None when none or several fit."""
    from dialogs.engine import _Suggest, match_choice

    try:
        return str(match_choice(text, _bank_choices({})).value)
    except (v.Invalid, _Suggest):
        return None


def _looks_like_bank(raw: str) -> bool:
    t = v.normalize(raw)
    return "银行" in t or any(t == alias for b in cat.load().banks for alias in b.aliases)


# --- cross-field rules --------------------------------------------------------------------------------------------------


def _other_applicants(a: Answers, prefix: str, field: str) -> list[tuple[int, Any]]:
    out = []
    i = 0
    while f"applicants.{i}.name" in a or f"applicants.{i}.id" in a:
        if f"applicants.{i}." != prefix and f"applicants.{i}.{field}" in a:
            out.append((i + 1, a[f"applicants.{i}.{field}"]))
        i += 1
    return out


def _distinct_applicant(field: str, what: str):
    # One certificate per person and order: a repeated ID or real-name mobile is a copy-paste slip.
    def check(value: Any, a: Answers, prefix: str) -> str | None:
        for n, other in _other_applicants(a, prefix, field):
            if other == value:
                return f"这个{what}与申请人{n}相同，每位申请人应填写本人的{what}，请核对"
        return None
    return check


def _consent(raw: str) -> bool:
    t = v.normalize(raw)
    if t in ("我同意", "同意并继续", "接受", "同意协议"):
        return True
    if t in ("拒绝", "不接受", "我不同意"):
        return False
    return v.yes_no(t)


def _consent_prompt(a: Answers, ctx: Any) -> str:
    base = getattr(ctx, "agreements_url", "").rstrip("/")
    return (
        "办理数字证书前，请阅读并同意以下协议：\n"
        f"《电子认证服务协议》{base}/service\n"
        f"《个人信息授权书》{base}/privacy\n"
        f"《敏感个人信息授权书》{base}/sensitive\n"
        "回复“同意”继续；回复“不同意”则结束，不会保存任何信息。"
    )


def _declined(value: Any) -> str | None:
    if value is False:
        return "好的，未同意协议前无法为您办理证书，本次没有保存任何信息。如需办理，随时回复“申请证书”。"
    return None


def _id_number_prompt(a: Answers) -> str:
    if _unit_uscc(a):
        return ("请输入统一社会信用代码（18位，营业执照上）\n"
                "（证件类型默认为统一社会信用代码证；其他证件请回复“修改 证件类型”）")
    return "请输入机构证件号码"


def _unit_id(raw: str, a: Answers) -> str:
    return v.uscc(raw) if _unit_uscc(a) else v.org_id(raw)


def _title_default(a: Answers) -> str | None:
    return a.get("unit.name") if _has_unit(a) else a.get("person.name")


def _tax_default(a: Answers) -> str | None:
    # Since 2015 the taxpayer number of a unit is its unified social credit code.
    return a.get("unit.id_number") if _has_unit(a) and _unit_uscc(a) else None


def _person(prefix: str, who: str, group: str, extra: tuple[Field, ...] = (), when=None) -> tuple[Field, ...]:
    return (
        Field(f"{prefix}name", f"{who}姓名", "姓名", f"请输入{who}姓名", parse=v.person_name, group=group, when=when,
              help="填写身份证上的姓名。"),
        Field(f"{prefix}id", f"{who}身份证号", "身份证号", f"请输入{who}身份证号（18位）", parse=v.id_number,
              recognize=v.looks_like_id, group=group, when=when, show=mask_id,
              help="用于实名核验，需与本人身份证一致。"),
        Field(f"{prefix}mobile", f"{who}手机号", "手机号", f"请输入{who}手机号（须为本人实名登记的号码）",
              parse=v.mobile, recognize=v.looks_like_mobile, group=group, when=when, show=mask_mobile,
              help="需通过运营商实名认证：号码登记人须与上面的姓名、身份证号一致。"),
        *extra,
    )


_EMAIL_HELP = "这个邮箱用于接收电子发票，请填写常用邮箱。"

FORM = Form(
    name="application",
    title=lambda a: " ".join(
        x for x in ((_platform(a).name if _platform(a) else ""),
                    cat.load().cert_types.get(_ct(a) or "", "")) if x) or "证书申请",
    sections={
        "cert": Section("证书信息", "可一次回复项目、类型和年限，例如：深圳公共资源 机构证书 3年"),
        "unit": Section("单位信息", "可一次发送：机构名称 统一社会信用代码 单位地址（空格分开）"),
        "legal": Section("法定代表人", "可一次发送：姓名 身份证号 手机号（空格分开）"),
        "handler": Section("经办人", "可一次发送：姓名 身份证号 手机号 邮箱 职务（空格分开）"),
        "finance": Section("金融认证（单位基本户）", "可一次发送：开户行 账号"),
        "applicants": Section("申请人", "可一次发送：姓名 身份证号 手机号"),
        "person": Section("申请人（自然人）", "可一次发送：姓名 身份证号 手机号 邮箱"),
        "mailing": Section("证书邮寄", ""),
        "invoice": Section("发票", ""),
    },
    summary_header="请核对您的申请：",
    summary_ask=M.APPLICATION_SUMMARY_ASK,
    fields=(
        Field("consent", "协议同意", prompt=_consent_prompt, kind="yesno", parse=_consent, group="start",
              abort=_declined, stamp=True, in_summary=False,
              help="这三份协议说明深圳CA如何提供证书服务、如何使用您的个人信息；同意后才能办理。"),
        Field("platform", "办理项目", "项目", "请选择要办理证书的项目（平台）：", kind="choice",
              choices=_platform_choices, group="cert", aliases=("项目", "平台"),
              help="证书用于哪个招投标/采购平台，以招标文件要求为准。"),
        Field("cert_type", "证书类型", "证书类型", "请选择证书类型：", kind="choice", choices=_cert_type_choices,
              group="cert", when=lambda a: _platform(a) is not None,
              default=lambda a: (_platform(a).cert_types[0] if _platform(a) and len(_platform(a).cert_types) == 1
                                 else None),
              auto=True,
              auto_note=lambda a: f"{_platform(a).name}只办理{cat.load().cert_type_name(a['cert_type'])}。",
              help="机构证书代表单位；机构个人证书代表单位里的某个人（如法人、注册建造师）；自然人证书代表个人。"
                   "以招标文件要求为准。"),
        Field("years", "办理年限", "年限", "请选择办理年限：", kind="choice", choices=_years_choices, group="cert",
              when=_common_years, recognize=_looks_like_years,
              show=lambda y: f"{y}年", aliases=("年限", "年数"), help="证书有效期，1–5年。"),
        Field("seal", "电子签章", "电子签章", "是否同时办理电子签章？", kind="yesno", group="cert",
              when=lambda a: bool(_platform(a) and _platform(a).seal.offered),
              default=lambda a: _platform(a).seal.default if _platform(a) else None,
              help="电子签章用于在平台上对文件盖章；办理需上传《数字证书印模采集表》。"),
        Field("holders", "同时办理机构个人证书", "同时办理机构个人证书", "是否同时为单位人员办理机构个人证书？"
              "（可多张，每张可选不同年限）", kind="yesno", group="cert",
              when=lambda a: _ct(a) == "org" and _own_years(a), default=lambda a: False,
              help="招投标文件要求法定代表人、注册建造师等的个人证书时需要办理。"),
        # Unit
        Field("unit.name", "机构名称", "机构名称", "请输入机构名称（与营业执照一致的全称）", parse=v.unit_name,
              group="unit", when=_has_unit, aliases=("单位名称", "公司名称"),
              help="证书上显示的单位名称，须与营业执照完全一致。"),
        Field("unit.id_type", "证件类型", "证件类型", "请选择机构证件类型：", kind="choice", choices=ID_TYPES,
              group="unit", when=_has_unit, default=lambda a: "uscc", auto=True, aliases=("机构证件类型",)),
        Field("unit.id_number", "证件号码", "证件号码", lambda a, ctx: _id_number_prompt(a), parse_in=_unit_id,
              recognize=v.looks_like_uscc, group="unit", when=_has_unit,
              aliases=("统一社会信用代码", "信用代码", "机构证件号码"),
              help="营业执照上的18位统一社会信用代码；其他证件请先回复“修改 证件类型”。"),
        Field("unit.address", "单位地址", "单位地址", "请输入单位地址（从省市写起，例如：广东省深圳市南山区高新中二路8号）",
              parse=v.address, group="unit", when=_has_unit, show=_show_address, aliases=("省市", "地址"),
              help="营业执照上的地址，从省市写起。"),
        # Legal representative
        *_person("legal.", "法人", "legal", when=_has_unit),
        # Handler
        *_person("handler.", "经办人", "handler", when=_has_unit, extra=(
            Field("handler.email", "经办人邮箱", "邮箱", "请输入经办人常用邮箱（用于接收电子发票）", parse=v.email,
                  recognize=v.looks_like_email, group="handler", when=_has_unit, help=_EMAIL_HELP),
            Field("handler.title", "经办人职务", "职务", "请输入经办人职务（例如：经理、办事员）",
                  parse=lambda t: v.text(t, max_len=20), group="handler", when=_has_unit),
        )),
        # Financial authentication (the unit's basic account)
        Field("finance.account_name", "基本户名称", "基本户名称", "请输入基本户名称（通常与机构名称相同）",
              parse=v.unit_name, group="finance", when=_has_unit, default=lambda a: a.get("unit.name"), auto=True),
        Field("finance.bank", "基本户开户行", "开户行", "请输入基本户开户行（关键字即可，例如“工商”“招商”）",
              kind="choice", choices=_bank_choices, search=True, recognize=_looks_like_bank, group="finance",
              when=_has_unit, aliases=("开户行", "开户银行", "银行"),
              help="付款后我司向这个对公账户打款0.01元，证书PIN码（或随机验证码）在转账附言里，请向财务获取。"),
        Field("finance.account", "基本户账号", "账号", "请输入基本户账号", parse=v.account,
              recognize=v.looks_like_account, group="finance", when=_has_unit, show=mask_account,
              aliases=("银行账号", "账号", "对公账号")),
        # Holders of 机构个人证书
        Field("applicants", "申请人", kind="list", when=_has_applicants, item_label="申请人", group="applicants",
              items=(
                  Field("name", "姓名", "姓名", "请输入申请人姓名", parse=v.person_name,
                        help="证书持有人本人的姓名。"),
                  Field("id", "身份证号", "身份证号", "请输入申请人身份证号（18位）", parse=v.id_number,
                        recognize=v.looks_like_id, show=mask_id, check=_distinct_applicant("id", "身份证号")),
                  Field("mobile", "手机号", "手机号", "请输入申请人手机号（须为本人实名登记的号码）", parse=v.mobile,
                        recognize=v.looks_like_mobile, show=mask_mobile,
                        check=_distinct_applicant("mobile", "手机号"),
                        help="申请人需通过运营商实名认证；公对公付款时PIN码以短信发到这个号码。"),
                  Field("years", "年限", "年限", "请选择这张证书的办理年限：", kind="choice",
                        choices=_holder_years_choices, when=_own_years, show=lambda y: f"{y}年",
                        recognize=_looks_like_years),
              )),
        # Natural person: the applicant alone, no unit
        *_person("person.", "申请人", "person", when=lambda a: _ct(a) == "person", extra=(
            Field("person.email", "申请人邮箱", "邮箱", "请输入申请人常用邮箱（用于接收电子发票）", parse=v.email,
                  recognize=v.looks_like_email, group="person", when=lambda a: _ct(a) == "person",
                  help=_EMAIL_HELP),
        )),
        # Mailing
        Field("mailing.address", "收件地址", "收件地址",
              "请输入证书收件地址（省市区+详细地址；可在后面空一格附上邮编）", parse=v.address, group="mailing",
              show=_show_address, default=lambda a: a.get("unit.address"), aliases=("邮寄地址", "省市区"),
              help="证书以快递寄出（邮费到付），请填写能收件的地址。"),
        Field("mailing.postcode", "邮编", "邮编", "请输入邮编（6位）", parse=v.postcode, recognize=v.looks_like_postcode,
              group="mailing", optional=True, ask=False, aliases=("邮政编码",)),
        # Invoice
        Field("invoice.kind", "是否开票", "是否开票", "是否开具电子发票？", kind="choice", choices=INVOICE_KINDS,
              group="invoice", default=lambda a: "electronic", aliases=("发票", "开票")),
        Field("invoice.title", "发票抬头", "发票抬头", "请输入发票抬头（完整名称）", parse=v.unit_name, group="invoice",
              when=lambda a: a.get("invoice.kind") == "electronic", default=_title_default, auto=True),
        Field("invoice.tax_id", "纳税人识别号", "纳税人识别号", "请输入纳税人识别号（个人、政府机关可跳过）",
              parse=v.tax_id, group="invoice", optional=True, auto=True, default=_tax_default,
              # An individual's invoice needs no taxpayer number: not asked for 自然人证书.
              when=lambda a: a.get("invoice.kind") == "electronic" and _has_unit(a),
              help="电子发票的纳税人识别号须正确，否则不能作报销凭证；个人、政府机关可不填。"),
    ),
)


# --- the record the caller keeps -------------------------------------------------------------------------------------------


class Person(BaseModel):
    name: str
    id_number: str
    mobile: str


class Handler(Person):
    email: str
    title: str


class NaturalPerson(Person):
    email: str


class Applicant(Person):
    years: int


class Unit(BaseModel):
    name: str
    id_type: str
    id_type_name: str
    id_number: str
    province: str
    city: str
    district: str = ""
    address: str


class Finance(BaseModel):
    account_name: str
    bank: str
    account: str


class Mailing(BaseModel):
    province: str
    city: str
    district: str = ""
    address: str
    postcode: str | None = None


class Invoice(BaseModel):
    kind: Literal["electronic", "none"]
    title: str | None = None
    tax_id: str | None = None


class Application(BaseModel):
    """The collected, validated application: everything the record, documents and payment steps need."""

    schema_version: int = SCHEMA_VERSION
    platform: str
    platform_name: str
    cert_type: str  # display name (机构证书…), as records and FAQ answers show it
    cert_type_id: Literal["org", "org_person", "person"]
    years: int | None = None  # None when every holder has their own years (山西)
    seal: bool | None = None
    unit: Unit | None = None
    legal: Person | None = None
    handler: Handler | None = None
    finance: Finance | None = None
    applicants: list[Applicant] = []
    natural_person: NaturalPerson | None = None
    mailing: Mailing
    invoice: Invoice
    total_fen: int
    consent_at: datetime.datetime
    payment_methods: list[str]
    payment_method: str | None = None  # chosen at the payment step (later issue)
    post_payment_step: str  # transfer_0_01 | random_code
    documents: list[str]

    @property
    def total_yuan(self) -> Decimal:
        return Decimal(self.total_fen) / 100


def _applicants(a: Answers) -> list[Applicant]:
    out = []
    i = 0
    while f"applicants.{i}.name" in a:
        years = a.get(f"applicants.{i}.years") if _own_years(a) else a.get("years")
        out.append(Applicant(name=a[f"applicants.{i}.name"], id_number=a[f"applicants.{i}.id"],
                             mobile=a[f"applicants.{i}.mobile"], years=years))
        if a.get(f"applicants.{i}.more") is not True:
            break
        i += 1
    return out


def total_fen(a: Answers) -> int:
    p = _platform(a)
    ct = _ct(a)
    if p is None or ct is None:
        return 0
    c = cat.load()
    fen = 0
    if ct in ("org", "person"):
        fen += c.price(p.id, ct, a["years"], seal=bool(a.get("seal")))
    if _has_applicants(a):
        fen += sum(c.price(p.id, "org_person", ap.years) for ap in _applicants(a))
    return fen


def _summary_footer(a: Answers, ctx: Any) -> list[str]:
    return [f"合计：{_yuan(total_fen(a))}"]


def _person_of(a: Answers, prefix: str, cls: type[BaseModel], **extra: Any) -> Any:
    return cls(name=a[f"{prefix}name"], id_number=a[f"{prefix}id"], mobile=a[f"{prefix}mobile"], **extra)


def build(a: Answers, ctx: Any) -> Application:
    c = cat.load()
    p = _platform(a)
    assert p is not None  # the form cannot reach the summary without a platform
    ct = a["cert_type"]
    unit = legal = handler = finance = None
    if _has_unit(a):
        addr = a["unit.address"]
        id_type = a.get("unit.id_type", "uscc")
        unit = Unit(name=a["unit.name"], id_type=id_type,
                    id_type_name=next(ch.label for ch in ID_TYPES if ch.value == id_type),
                    id_number=a["unit.id_number"], province=addr["province"], city=addr["city"],
                    district=addr.get("district", ""), address=addr["detail"])
        legal = _person_of(a, "legal.", Person)
        handler = _person_of(a, "handler.", Handler, email=a["handler.email"], title=a["handler.title"])
        finance = Finance(account_name=a["finance.account_name"], bank=a["finance.bank"],
                          account=a["finance.account"])
    natural = _person_of(a, "person.", NaturalPerson, email=a["person.email"]) if ct == "person" else None
    m = a["mailing.address"]
    kind = a["invoice.kind"]
    invoice = Invoice(kind=kind, title=a.get("invoice.title") if kind == "electronic" else None,
                      tax_id=a.get("invoice.tax_id") if kind == "electronic" else None)
    seal = a.get("seal") if p.seal.offered else None
    docs = list(c.documents(p.id, ct, seal=bool(seal)))
    if ct == "org" and _has_applicants(a):  # 山西: holders added to a 机构证书 order need their ID copies
        docs += [d for d in c.documents(p.id, "org_person") if d not in docs]
    return Application(
        platform=p.id, platform_name=p.name, cert_type=c.cert_type_name(ct), cert_type_id=ct,
        years=a.get("years") if _common_years(a) else None, seal=seal, unit=unit, legal=legal, handler=handler,
        finance=finance, applicants=_applicants(a) if _has_applicants(a) else [], natural_person=natural,
        mailing=Mailing(province=m["province"], city=m["city"], district=m.get("district", ""), address=m["detail"],
                        postcode=a.get("mailing.postcode")),
        invoice=invoice, total_fen=total_fen(a), consent_at=datetime.datetime.fromisoformat(a["consent"]),
        payment_methods=list(p.payment_methods), post_payment_step=p.post_payment, documents=list(docs),
    )


# Declared above as data; the two functions that read the whole answer set are attached here.
FORM = dataclasses.replace(FORM, summary_footer=_summary_footer, build=build)
