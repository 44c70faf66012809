"""Synthetic photos of a business licence and both sides of an ID card, with the values printed on them."""

from __future__ import annotations

import io
import os
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from stdnum.cn import ric, uscc

# Debian's fonts-wqy-zenhei first (what CI installs), then the usual CJK fonts of other systems.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)
NO_FONT_REASON = (
    "no CJK font to render synthetic documents: apt-get install -y fonts-wqy-zenhei "
    "(or point SZCA_CJK_FONT at a .ttc/.ttf with Chinese glyphs)"
)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢钟"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅建国志文斌海峰鹏辉宇浩晨欣怡佳琳雪婷俊杰子涵思远"
TRADE_WORDS = ("华信", "新远", "鹏程", "粤海", "星河", "中科", "博达", "安信", "腾飞", "前海", "宏图", "金桥", "创维",
               "海纳", "联讯", "智源", "南方", "恒通", "盛世", "天成")
INDUSTRIES = ("科技", "信息技术", "电子", "建设工程", "贸易", "物业管理", "网络科技", "医疗器械", "环保科技", "文化传播")
FORMS = ("有限公司", "股份有限公司", "有限公司")
DISTRICTS = {"南山区": "440305", "福田区": "440304", "罗湖区": "440303", "宝安区": "440306", "龙岗区": "440307"}
STREETS = ("粤海街道", "沙河街道", "华强北街道", "莲花街道", "新安街道", "西乡街道", "坂田街道", "桂园街道")
ROADS = ("科技南十二路", "高新中二路", "深南大道", "滨海大道", "红荔路", "宝安大道", "布吉路", "创业路", "海德三道")
BUILDINGS = ("软件产业基地", "科兴科学园", "卓越大厦", "创新大厦", "华润大厦", "国际商会中心", "海岸城")
TYPES = ("有限责任公司", "有限责任公司（自然人投资或控股）", "股份有限公司（非上市）")
BUREAUS = {"南山区": "深圳市公安局南山分局", "福田区": "深圳市公安局福田分局", "罗湖区": "深圳市公安局罗湖分局",
           "宝安区": "深圳市公安局宝安分局", "龙岗区": "深圳市公安局龙岗分局"}
NATIONS = ("汉", "汉", "汉", "壮", "回", "满")


def find_font() -> str | None:
    configured = os.environ.get("SZCA_CJK_FONT")
    for path in ((configured,) if configured else ()) + FONT_CANDIDATES:
        if path and Path(path).is_file():
            return path
    return None


@dataclass(frozen=True)
class SyntheticDoc:
    kind: str  # "licence" | "id_front" | "id_back"
    image: bytes  # JPEG
    truth: dict[str, str]  # field name -> the exact value printed; dates as ISO, "长期" as ""


def _person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))


def make_uscc(rng: random.Random, region: str = "440300") -> str:
    # 9 = registered by market regulation, 1 = enterprise; the org code part avoids I/O/Z/S/V like real ones.
    body = "91" + region + "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return body + uscc.calc_check_digit(body)


def make_ric(rng: random.Random, region: str, born: date, male: bool) -> str:
    seq = f"{rng.randrange(0, 100):02d}{rng.randrange(0, 5) * 2 + (1 if male else 0)}"
    body = f"{region}{born:%Y%m%d}{seq}"
    return body + ric.calc_check_digit(body + "?")  # stdnum's ric wants a placeholder for the check digit


def _address(rng: random.Random, district: str) -> str:
    return (f"深圳市{district}{rng.choice(STREETS)}{rng.choice(ROADS)}{rng.randrange(1, 300)}号"
            f"{rng.choice(BUILDINGS)}{rng.randrange(1, 30)}{rng.randrange(1, 20):02d}室")


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _spaced(label: str) -> str:
    # Licences and ID cards pad short labels with full-width spaces so the colon column lines up.
    return "\u3000".join(label) if len(label) == 2 else label


def _photograph(card: Image.Image, rng: random.Random, harsh: bool = False, margin: int = 60) -> bytes:
    """Lay the document on a desk, tilt it a little, blur and JPEG-compress it like a phone photo;
    `harsh`: further away (60 % size), more tilted, blurrier and compressed harder."""
    if harsh:
        card = card.resize((card.width * 3 // 5, card.height * 3 // 5), Image.Resampling.LANCZOS)
    desk = Image.new("RGB", (card.width + 2 * margin, card.height + 2 * margin),
                     tuple(rng.randrange(90, 160) for _ in range(3)))
    desk.paste(card, (margin, margin))
    angle = rng.uniform(-7.0, 7.0) if harsh else rng.uniform(-3.0, 3.0)
    desk = desk.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=desk.getpixel((0, 0)))
    desk = desk.filter(ImageFilter.GaussianBlur(rng.uniform(0.9, 1.5) if harsh else rng.uniform(0.5, 1.2)))
    out = io.BytesIO()
    desk.save(out, "JPEG", quality=rng.randrange(30, 50) if harsh else rng.randrange(55, 80))
    return out.getvalue()


def licence(seed: int, font: str, harsh: bool = False) -> SyntheticDoc:
    rng = random.Random(f"licence-{seed}")
    district = rng.choice(list(DISTRICTS))
    truth = {
        "name": f"深圳市{rng.choice(TRADE_WORDS)}{rng.choice(INDUSTRIES)}{rng.choice(FORMS)}",
        "uscc": make_uscc(rng),
        "address": _address(rng, district),
        "legal_person": _person_name(rng),
    }
    founded = date(2005, 1, 1) + timedelta(days=rng.randrange(0, 6000))
    card = Image.new("RGB", (1500, 1000), (250, 246, 236))
    draw = ImageDraw.Draw(card)
    draw.rectangle((18, 18, 1482, 982), outline=(176, 40, 40), width=6)
    draw.text((750, 110), "营 业 执 照", font=_font(font, 76), fill=(176, 30, 30), anchor="mm")
    draw.text((750, 185), "（副　　本）", font=_font(font, 30), fill=(40, 40, 40), anchor="mm")
    small, text = _font(font, 28), _font(font, 32)
    draw.text((70, 230), f"统一社会信用代码  {truth['uscc']}", font=small, fill=(30, 30, 30))
    left = [("名称", truth["name"]), ("类型", rng.choice(TYPES)), ("法定代表人", truth["legal_person"]),
            ("经营范围", "计算机软硬件的技术开发与销售；")]
    right = [("注册资本", f"人民币{rng.randrange(1, 100) * 100}万元"), ("成立日期", f"{founded:%Y年%m月%d日}"),
             ("营业期限", "长期"), ("住所", truth["address"])]
    for row, (label, value) in enumerate(left):
        y = 330 + row * 90
        draw.text((70, y), _spaced(label), font=text, fill=(30, 30, 30))
        draw.text((290, y), value, font=text, fill=(20, 20, 20))
    for row, (label, value) in enumerate(right):
        y = 330 + row * 90
        draw.text((860, y), _spaced(label), font=text, fill=(30, 30, 30))
        if label == "住所":
            # The address is the longest value; it continues under itself as on printed licences.
            cut = len(value) // 2
            draw.text((1030, y), value[:cut], font=text, fill=(20, 20, 20))
            draw.text((1030, y + 44), value[cut:], font=text, fill=(20, 20, 20))
        else:
            draw.text((1030, y), value, font=text, fill=(20, 20, 20))
    draw.text((880, 800), "登记机关", font=text, fill=(30, 30, 30))
    draw.text((1050, 870), f"{founded:%Y年%m月%d日}", font=text, fill=(30, 30, 30))
    draw.ellipse((1060, 720, 1260, 920), outline=(200, 40, 40), width=5)
    return SyntheticDoc("licence", _photograph(card, rng, harsh), truth)


def _id_card_base() -> tuple[Image.Image, ImageDraw.ImageDraw]:
    card = Image.new("RGB", (1000, 630), (236, 242, 246))
    draw = ImageDraw.Draw(card)
    draw.rounded_rectangle((4, 4, 996, 626), radius=36, outline=(180, 190, 200), width=3)
    return card, draw


def id_front(seed: int, font: str, harsh: bool = False) -> SyntheticDoc:
    rng = random.Random(f"id-front-{seed}")
    district = rng.choice(list(DISTRICTS))
    male = rng.random() < 0.5
    born = date(1960, 1, 1) + timedelta(days=rng.randrange(0, 15000))
    address = _address(rng, district)
    truth = {
        "name": _person_name(rng),
        "id_number": make_ric(rng, DISTRICTS[district], born, male),
        "sex": "男" if male else "女",
        "birth": born.isoformat(),
        "address": "广东省" + address,
    }
    card, draw = _id_card_base()
    label, value, number = _font(font, 28), _font(font, 36), _font(font, 44)
    grey, ink = (90, 110, 130), (15, 15, 15)
    draw.text((70, 70), "姓　名", font=label, fill=grey)
    draw.text((190, 64), truth["name"], font=value, fill=ink)
    draw.text((70, 150), "性　别", font=label, fill=grey)
    draw.text((190, 144), truth["sex"], font=value, fill=ink)
    draw.text((300, 150), "民　族", font=label, fill=grey)
    draw.text((420, 144), rng.choice(NATIONS), font=value, fill=ink)
    draw.text((70, 230), "出　生", font=label, fill=grey)
    draw.text((190, 224), f"{born.year}", font=value, fill=ink)
    draw.text((290, 230), "年", font=label, fill=grey)
    draw.text((340, 224), f"{born.month}", font=value, fill=ink)
    draw.text((395, 230), "月", font=label, fill=grey)
    draw.text((445, 224), f"{born.day}", font=value, fill=ink)
    draw.text((500, 230), "日", font=label, fill=grey)
    draw.text((70, 310), "住　址", font=label, fill=grey)
    for i in range(0, len(truth["address"]), 12):
        draw.text((190, 304 + (i // 12) * 48), truth["address"][i:i + 12], font=value, fill=ink)
    draw.text((70, 520), "公民身份号码", font=label, fill=grey)
    draw.text((330, 510), truth["id_number"], font=number, fill=ink)
    draw.rectangle((700, 90, 930, 380), fill=(205, 212, 220))  # the portrait
    return SyntheticDoc("id_front", _photograph(card, rng, harsh), truth)


def id_back(seed: int, font: str, harsh: bool = False) -> SyntheticDoc:
    rng = random.Random(f"id-back-{seed}")
    district = rng.choice(list(DISTRICTS))
    start = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 6000))
    years = rng.choice((10, 20, 20, 0))  # 0: 长期, issued to people over 46
    end = "" if years == 0 else start.replace(year=start.year + years).isoformat()
    truth = {"issuer": BUREAUS[district], "valid_from": start.isoformat(), "valid_to": end}
    card, draw = _id_card_base()
    draw.ellipse((70, 50, 210, 190), outline=(200, 40, 40), width=5)  # the national emblem
    draw.text((600, 120), "中华人民共和国", font=_font(font, 52), fill=(20, 20, 20), anchor="mm")
    draw.text((600, 230), "居民身份证", font=_font(font, 72), fill=(20, 20, 20), anchor="mm")
    label, value = _font(font, 28), _font(font, 34)
    draw.text((180, 410), "签发机关", font=label, fill=(90, 110, 130))
    draw.text((340, 404), truth["issuer"], font=value, fill=(15, 15, 15))
    draw.text((180, 490), "有效期限", font=label, fill=(90, 110, 130))
    to = "长期" if not end else f"{date.fromisoformat(end):%Y.%m.%d}"
    draw.text((340, 484), f"{start:%Y.%m.%d}-{to}", font=value, fill=(15, 15, 15))
    return SyntheticDoc("id_back", _photograph(card, rng, harsh), truth)


MAKERS = {"licence": licence, "id_front": id_front, "id_back": id_back}


def generate(kind: str, count: int, font: str, first_seed: int = 0, harsh: bool = False) -> list[SyntheticDoc]:
    return [MAKERS[kind](seed, font, harsh) for seed in range(first_seed, first_seed + count)]
