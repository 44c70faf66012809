"""The printable forms as PDF bytes: the filled 数字证书申请表 (or 山西's 单位授权委托书) and the 印模采集表."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from functools import cache
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dialogs import Application

# A CID font is named in the PDF and supplied by the reader: nothing to download or embed, and every Chinese
# PDF reader has Song. Bold does not exist for it, so weight comes from size and the shaded section bands.
FONT = "STSong-Light"
COMPANY = "深圳市电子商务安全证书管理有限公司"
FOOTER = f"{COMPANY} · 客服热线 400-112-3838"
AGREEMENT = f"《{COMPANY}电子认证服务协议》"
PAGE_W = A4[0]
MARGIN = 15 * mm
WIDTH = PAGE_W - 2 * MARGIN
LINE = colors.HexColor("#9aa5b1")
BAND = colors.HexColor("#e8eef5")
LABEL_BG = colors.HexColor("#f6f8fa")
YEARS_EACH = "按申请人"  # 山西: each holder has their own years, there is no common figure

# The declaration of part IV as the hall prints it (the 广电, 一诺 and 工务署 guides' screenshots); {…} are filled.
AUTHORISATION = (
    "姓名：{legal_name}　身份证号码：{legal_id}　系本单位的法定代表人，现委托本单位员工姓名：{handler_name}　"
    "身份证号：{handler_id}　职位：{handler_title}　为我方代理人，以我方名义办理数字证书的有关事宜，"
    "代理人在其权限范围内签署的一切有关文件，我单位均予承认，由此在法律上产生的权利、义务均由委托人享有和承担。"
    "委托期限：自{since}起至委托事项办结，代理人不得转让委托权限。"
    "本单位授权上述经办人代办本单位数字证书申请，本单位承诺所填写的内容和提交的证明材料真实，"
    "并已认真阅读且同意接受" + AGREEMENT + "的各项内容之规定，如有违反，愿意承担由此引起的一切后果及承担相关法律责任。"
)
# A natural person signs for themself: the unit's delegation falls away, the undertaking stays.
PERSONAL_DECLARATION = (
    "本人承诺所填写的内容和提交的证明材料真实，并已认真阅读且同意接受" + AGREEMENT
    + "的各项内容之规定，如有违反，愿意承担由此引起的一切后果及承担相关法律责任。"
)
SEAL_NOTES = (
    "1. 请使用红色印泥在对应框内清晰、完整地加盖印章，印模不得压框线、不得涂改；申请人私章可用本人手写签名代替。",
    "2. 办理电子签章时，证书所用的电子印章按本表采集的印模制作，请确保印模清晰可辨。",
    "3. 盖章后通过彩色扫描或拍照形成电子图片上传，支持 jpg、jpeg、bmp、gif、pdf 格式，大小不超过 2M。",
)


@cache
def _font() -> str:
    # Registered on first use, not at import: importing the module does no work (STYLE: no work at import).
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def _style(size: float = 9, **kw: object) -> ParagraphStyle:
    # wordWrap="CJK" breaks anywhere, so a 60-character unit name or an address without spaces wraps in its cell.
    return ParagraphStyle(f"s{size}", **{"fontName": _font(), "fontSize": size, "leading": size * 1.45,
                                         "wordWrap": "CJK", **kw})


def _p(text: str, size: float = 9, **kw: object) -> Paragraph:
    return Paragraph(escape(text), _style(size, **kw))


# --- the layout as data --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One labelled value; a wide cell takes the whole row (names and addresses)."""

    label: str
    value: str
    wide: bool = False
    required: bool = True


@dataclass(frozen=True)
class Grid:
    """A numbered part of the form: a shaded heading over label/value pairs, two pairs to a row."""

    heading: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Listing:
    """A part with one row per person (the 机构个人证书 holders)."""

    heading: str
    columns: tuple[str, ...]
    widths: tuple[float, ...]  # fractions of the page width
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Text:
    heading: str
    body: str


@dataclass(frozen=True)
class Signatures:
    """The signing line: who signs by hand, the date, and whether a unit seal box is needed."""

    signers: tuple[str, ...]
    day: date
    stamp: str | None


Part = Grid | Listing | Text | Signatures


def _day(d: date) -> str:
    return f"{d.year}年{d.month:02d}月{d.day:02d}日"


def _yuan(app: Application) -> str:
    return f"{app.total_yuan:,.2f}元"


def _years(app: Application) -> str:
    return f"{app.years}年" if app.years else YEARS_EACH


def _address(province: str, city: str, district: str, detail: str) -> str:
    # Municipalities are both province and city (北京市北京市…): say it once.
    return f"{province}{'' if city == province else city}{district}{detail}"


def _cert_cells(app: Application) -> tuple[Cell, ...]:
    cells = [
        Cell("业务类型", "新申请"), Cell("证书年限", _years(app)),
        Cell("证书金额", _yuan(app)), Cell("证书类型", app.cert_type),
        Cell("办理项目", app.platform_name, required=False),
    ]
    if app.seal is not None:
        cells.append(Cell("电子签章", "办理" if app.seal else "不办理", required=False))
    return tuple(cells)


def _unit_part(app: Application, heading: str) -> Grid:
    u = app.unit
    assert u is not None
    return Grid(heading, (
        Cell("机构名称", u.name, wide=True),
        Cell("证件类型", u.id_type_name), Cell("证件号码", u.id_number),
        Cell("单位地址", _address(u.province, u.city, u.district, u.address), wide=True),
    ))


def _handler_part(app: Application, heading: str) -> Grid:
    h = app.handler
    assert h is not None
    return Grid(heading, (
        Cell("姓名", h.name), Cell("联系电话", h.mobile),
        Cell("身份证号", h.id_number), Cell("邮箱", h.email),
    ))


def _applicants_part(app: Application, heading: str) -> Listing:
    return Listing(
        heading, ("序号", "申请人姓名", "身份证号码", "联系电话（移动电话）", "证书年限"), (0.08, 0.2, 0.32, 0.26, 0.14),
        tuple((str(i), a.name, a.id_number, a.mobile, f"{a.years}年") for i, a in enumerate(app.applicants, 1)),
    )


def _authorisation(app: Application, today: date) -> str:
    assert app.legal is not None and app.handler is not None
    return AUTHORISATION.format(legal_name=app.legal.name, legal_id=app.legal.id_number, handler_name=app.handler.name,
                                handler_id=app.handler.id_number, handler_title=app.handler.title, since=_day(today))


AUTH_HEADING = "申请单位法定代表人授权委托及单位声明（必填项，此项如涂改，请在涂改处加盖公章）"


def _parts(app: Application, today: date) -> list[Part]:
    """The variant the hall prints for this application, part by part."""
    if form_kind(app) == "authorization_letter":
        return _letter_parts(app, today)
    if app.cert_type_id == "person":
        p = app.natural_person
        assert p is not None
        return [
            Grid("I. 证书信息（带*为必填项）", _cert_cells(app)),
            Grid("II. 申请人信息（必填项）", (
                Cell("姓名", p.name), Cell("联系电话", p.mobile),
                Cell("身份证号", p.id_number), Cell("邮箱", p.email),
            )),
            Text("III. 申请人声明（必填项）", PERSONAL_DECLARATION),
            Signatures(("申请人手写签名",), today, None),
        ]
    parts: list[Part] = [
        Grid("I. 证书信息（带*为必填项）", _cert_cells(app)),
        _unit_part(app, "II. 单位基本信息（带*为必填项）"),
        _handler_part(app, "III. 经办人信息（必填项）"),
    ]
    if app.applicants:
        parts.append(_applicants_part(app, "IV. 申请人信息（必填项）"))
    parts.append(Text(f"{'V' if app.applicants else 'IV'}. {AUTH_HEADING}", _authorisation(app, today)))
    parts.append(Signatures(("经办人手写签名",), today, "单位公章"))
    return parts


def _letter_parts(app: Application, today: date) -> list[Part]:
    # 山西's hall prints a 单位授权委托书 in place of the 申请表: the same facts and the same delegation, addressed to
    # SZCA and signed by the legal representative as well, since it is the unit's letter of authority.
    assert app.legal is not None
    cells = [Cell("业务类型", "新申请"), Cell("办理项目", app.platform_name),
             Cell("证书类型", app.cert_type), Cell("证书年限", _years(app))]
    if app.cert_type_id == "org" and app.applicants:
        cells.append(Cell("同时办理", f"机构个人证书{len(app.applicants)}张"))
    cells.append(Cell("证书金额合计", _yuan(app)))
    parts: list[Part] = [
        Text("", f"致：{COMPANY}"),
        Grid("一、委托事项（证书信息）", tuple(cells)),
        _unit_part(app, "二、委托单位"),
        Grid("三、法定代表人（委托人）", (Cell("姓名", app.legal.name), Cell("身份证号", app.legal.id_number))),
        _handler_part(app, "四、经办人（代理人）"),
    ]
    if app.applicants:
        parts.append(_applicants_part(app, "五、机构个人证书申请人"))
    parts.append(Text(f"{'六' if app.applicants else '五'}、授权委托及单位声明", _authorisation(app, today)))
    parts.append(Signatures(("法定代表人签字", "经办人签字"), today, "单位公章"))
    return parts


# --- interpreting the parts -------------------------------------------------------------------------------------------


def _band(heading: str) -> Table:
    t = Table([[_p(heading, 10)]], colWidths=[WIDTH])
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), BAND), ("BOX", (0, 0), (-1, -1), 0.6, LINE),
                           ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
    return t


_CELL_STYLE = [
    ("GRID", (0, 0), (-1, -1), 0.5, LINE),
    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ("TOPPADDING", (0, 0), (-1, -1), 3.5),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
]


def _label(c: Cell) -> Paragraph:
    return _p(("* " if c.required else "") + c.label)


def _rows(cells: tuple[Cell, ...]) -> list[list[Cell]]:
    """Two cells to a row; a wide cell, or one left without a partner, has its row to itself."""
    rows: list[list[Cell]] = []
    for c in cells:
        if c.wide or not rows or rows[-1][0].wide or len(rows[-1]) == 2:
            rows.append([c])
        else:
            rows[-1].append(c)
    return rows


def _grid(g: Grid) -> list[Flowable]:
    label_w, value_w = 0.16 * WIDTH, 0.34 * WIDTH
    data: list[list[object]] = []
    style: list[tuple] = [("BACKGROUND", (0, 0), (0, -1), LABEL_BG)]
    for i, row in enumerate(_rows(g.cells)):
        if len(row) == 1:
            data.append([_label(row[0]), _p(row[0].value, 10), "", ""])
            style.append(("SPAN", (1, i), (3, i)))
        else:
            data.append([_label(row[0]), _p(row[0].value, 10), _label(row[1]), _p(row[1].value, 10)])
            style.append(("BACKGROUND", (2, i), (2, i), LABEL_BG))
    t = Table(data, colWidths=[label_w, value_w, label_w, value_w])
    t.setStyle(TableStyle(_CELL_STYLE + style))
    return [_band(g.heading), t] if g.heading else [t]


def _listing(li: Listing) -> list[Flowable]:
    head = [_p(c) for c in li.columns]
    body = [[_p(v, 10) for v in row] for row in li.rows]
    t = Table([head, *body], colWidths=[w * WIDTH for w in li.widths], repeatRows=1)
    t.setStyle(TableStyle(_CELL_STYLE + [("BACKGROUND", (0, 0), (-1, 0), LABEL_BG)]))
    # The heading stays with at least the table's first rows when the list flows onto a second page.
    return [KeepTogether([_band(li.heading), t])] if len(li.rows) <= 8 else [_band(li.heading), t]


def _text(tx: Text) -> list[Flowable]:
    if not tx.heading:  # a line of its own, such as the letter's addressee
        return [_p(tx.body, 11), Spacer(1, 2 * mm)]
    body = Table([[_p(tx.body, 10, firstLineIndent=20)]], colWidths=[WIDTH])
    body.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.5, LINE), ("TOPPADDING", (0, 0), (-1, -1), 5),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 6), ("LEFTPADDING", (0, 0), (-1, -1), 6),
                              ("RIGHTPADDING", (0, 0), (-1, -1), 6)]))
    return [_band(tx.heading), body]


def _stamp_box(caption: str, size: float = 34 * mm) -> Table:
    box = Table([[_p(caption, 8, textColor=colors.grey, alignment=TA_CENTER)]], colWidths=[size], rowHeights=[size])
    box.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, colors.black), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    return box


def _signatures(s: Signatures) -> list[Flowable]:
    sign = [_p(f"{who}：________________", 10.5) for who in s.signers]
    left: list[list[object]] = [[x] for x in sign] + [[_p(f"申请日期：{_day(s.day)}", 10.5)]]
    col = Table(left, colWidths=[WIDTH * 0.6], rowHeights=[11 * mm] * len(left), hAlign="LEFT")
    col.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    if s.stamp is None:
        return [Spacer(1, 4 * mm), col]
    row = Table([[col, _p(f"{s.stamp}：", 10.5, alignment=TA_RIGHT), _stamp_box(f"加盖{s.stamp}")]],
                colWidths=[WIDTH * 0.6, WIDTH * 0.4 - 38 * mm, 38 * mm])
    row.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return [Spacer(1, 4 * mm), KeepTogether([row])]


def _render(part: Part) -> list[Flowable]:
    if isinstance(part, Grid):
        return _grid(part)
    if isinstance(part, Listing):
        return _listing(part)
    if isinstance(part, Text):
        return _text(part)
    return _signatures(part)


def _header(title: str, number: str | None) -> list[Flowable]:
    top = Table([[_p("深圳CA · 网上营业厅", 9, textColor=colors.HexColor("#1f5f9f")),
                  _p(f"申请单号：{number or '________________'}", 9, alignment=TA_RIGHT)]],
                colWidths=[WIDTH / 2, WIDTH / 2])
    top.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
    return [top, Spacer(1, 2 * mm), _p(title, 17, alignment=TA_CENTER, leading=24), Spacer(1, 3 * mm)]


def _pdf(title: str, number: str | None, story: list[Flowable]) -> bytes:
    def footer(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(_font(), 8)
        canvas.setFillColor(colors.grey)
        canvas.drawCentredString(PAGE_W / 2, 9 * mm, FOOTER)
        # The number again at the foot, so a loose second page still says which application it belongs to.
        canvas.drawRightString(PAGE_W - MARGIN, 9 * mm, f"{number + ' · ' if number else ''}第{doc.page}页")
        canvas.restoreState()

    buf = io.BytesIO()
    # invariant=True: the same application gives the same bytes (no creation timestamp or random document ID).
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=12 * mm,
                            bottomMargin=16 * mm, title=title, author=COMPANY, subject=number or "",
                            invariant=True)
    doc.build(_header(title, number) + story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


# --- the API ---------------------------------------------------------------------------------------------------------


def form_kind(app: Application) -> str:
    """The document id this form is uploaded as: 'authorization_letter' where the platform asks for a 授权委托书
    (山西) instead of the 申请表, else 'application_form'. The catalogue's document list decides, not the platform."""
    return "authorization_letter" if "authorization_letter" in app.documents else "application_form"


def form_title(app: Application) -> str:
    if form_kind(app) == "authorization_letter":
        return "单位授权委托书"
    return {"org": "机构数字证书申请表", "org_person": "机构(个人)数字证书申请表",
            "person": "自然人数字证书申请表"}[app.cert_type_id]


def application_form(app: Application, number: str, today: date) -> bytes:
    """The filled form to print, sign (and stamp) and upload; `today` dates the signature and the 委托期限."""
    story: list[Flowable] = []
    for part in _parts(app, today):
        story += _render(part)
        story.append(Spacer(1, 2.5 * mm))
    return _pdf(form_title(app), number, story)


def _holders(app: Application) -> list[str]:
    """Who holds a personal certificate: the 机构个人 applicants, or the natural person."""
    return [a.name for a in app.applicants] or ([app.natural_person.name] if app.natural_person else [])


def _seal_boxes(app: Application | None) -> list[tuple[str, str]]:
    """(caption above the box, hint inside it) for every impression the application needs."""
    if app is None:  # the blank template serves every case: one unit seal and three holders
        return [("单位公章", "加盖单位公章")] + [("申请人私章或签名：__________", "加盖私章或签名")] * 3
    boxes = [("单位公章", "加盖单位公章")] if app.unit else []
    return boxes + [(f"申请人私章或签名：{name}", "加盖私章或签名") for name in _holders(app)]


def seal_form(app: Application | None, number: str | None) -> bytes:
    """The 《数字证书印模采集表》: blank (the hall's downloadable template) or pre-filled for one application."""
    info = Grid("一、申请信息", (
        Cell("单位名称", app.unit.name if app and app.unit else "", wide=True, required=False),
        Cell("办理项目", app.platform_name if app else "", required=False),
        Cell("证书类型", app.cert_type if app else "", required=False),
        Cell("申请人", "、".join(_holders(app)) if app else "", wide=True, required=False),
    ))
    story = _grid(info) + [Spacer(1, 3 * mm), _band("二、印模采集（请在框内加盖）")]
    # Caption and box share one cell, so a page break (many holders) never parts a name from its box.
    cells: list[object] = [[_p(caption, 9.5, alignment=TA_CENTER), Spacer(1, 2 * mm), _stamp_box(hint, 45 * mm)]
                           for caption, hint in _seal_boxes(app)]
    if len(cells) % 2:
        cells.append("")
    grid = Table([cells[i:i + 2] for i in range(0, len(cells), 2)], colWidths=[WIDTH / 2, WIDTH / 2])
    grid.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                              ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                              ("BOX", (0, 0), (-1, -1), 0.5, LINE)]))
    story += [grid, Spacer(1, 3 * mm), _band("三、说明")]
    story += [_p(n, 9) for n in SEAL_NOTES]
    return _pdf("数字证书印模采集表", number, story)
