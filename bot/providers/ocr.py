"""Reading business licences and ID cards from photos: Aliyun OCR, or an offline engine for the embedded default."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Protocol

from stdnum.cn import ric, uscc

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)

# What the user is told; the dialogue offers to type the values in both cases.
UNAVAILABLE_MESSAGE = "证件识别服务暂时不可用，请直接输入相关信息，或稍后再发送照片。"
UNREADABLE_MESSAGE = "没能从照片中识别出证件信息，请在光线充足处拍摄完整、清晰的证件正面，或直接输入相关信息。"


class OcrError(Exception):
    """Base of both failures; `user_message` is the Chinese text for the chat, str(exc) the detail for logs."""

    user_message = UNAVAILABLE_MESSAGE

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.user_message)


class OcrUnavailable(OcrError):
    """The service could not answer (network, timeout, throttling, credentials, a reply we cannot parse)."""

    user_message = UNAVAILABLE_MESSAGE


class OcrUnreadable(OcrError):
    """The service answered, but the picture is not an image or none of the document's fields were found."""

    user_message = UNREADABLE_MESSAGE


@dataclass(frozen=True)
class LicenceFields:
    name: str | None = None
    uscc: str | None = None
    address: str | None = None
    legal_person: str | None = None
    # Field name -> 0..1. Values are raw: the dialogue validates them like typed input.
    confidence: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class IdFrontFields:
    name: str | None = None
    id_number: str | None = None
    sex: str | None = None
    birth: date | None = None
    address: str | None = None
    confidence: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class IdBackFields:
    issuer: str | None = None
    valid_from: date | None = None
    # None with long_term=True is 长期; None with long_term=False is "not read".
    valid_to: date | None = None
    long_term: bool = False
    confidence: Mapping[str, float] = field(default_factory=dict)


class Ocr(Protocol):
    def licence(self, image: bytes) -> LicenceFields: ...

    def id_front(self, image: bytes) -> IdFrontFields: ...

    def id_back(self, image: bytes) -> IdBackFields: ...


# --- shared parsing ---------------------------------------------------------------------------------------

_PERIOD = re.compile(
    r"(\d{4})[.\-/年]?(\d{1,2})[.\-/月]?(\d{1,2})日?"
    r"[-—–~至到]*"  # the dash is thin and sometimes not read at all
    r"(长期|(\d{4})[.\-/年]?(\d{1,2})[.\-/月]?(\d{1,2})日?)"
)
_CN_DATE = re.compile(r"(\d{4})[.\-/年](\d{1,2})[.\-/月](\d{1,2})")
# Letters a recogniser returns for digits; applied only where the format allows digits alone.
_AS_DIGIT = str.maketrans({"O": "0", "Q": "0", "D": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "G": "6",
                           "T": "7", "o": "0", "l": "1", "|": "1"})
# Pairs that both exist in the USCC alphabet, so only the checksum can tell which one was printed.
_USCC_LOOKALIKES = {"0": "DQ", "D": "0", "Q": "0", "8": "B", "B": "8", "6": "G", "G": "6"}
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_NOT_IN_USCC = str.maketrans({"I": "1", "O": "0", "S": "5", "V": "U", "Z": "2"})
REPAIRED_CONFIDENCE = 0.8  # a repaired value is likely right, but the dialogue may still want a confirmation
# The recogniser is confident on real text; a strip of background reads as low-score noise.
MIN_RESCUE_SCORE = 0.8


def _date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def parse_period(text: str) -> tuple[date | None, date | None, bool]:
    """`2016.05.27-2036.05.27` or `2010.07.21-长期` (any of . - / 年月日) -> (from, to, long_term)."""
    match = _PERIOD.search(_compact(text).translate(_AS_DIGIT))
    if not match:
        return None, None, False
    start = _date(*match.group(1, 2, 3))
    if match.group(4) == "长期":
        return start, None, True
    return start, _date(*match.group(5, 6, 7)), False


def parse_cn_date(text: str) -> date | None:
    match = _CN_DATE.search(_compact(text))
    return _date(*match.groups()) if match else None


def _compact(text: str) -> str:
    """Full-width to half-width and no whitespace: for labels, numbers and dates (not for names)."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def _clean_value(text: str) -> str:
    # Official names and addresses use full-width brackets; recognisers often return ASCII ones.
    text = re.sub(r"\s+", "", text).strip(":：;；,，.。")
    return text.replace("(", "（").replace(")", "）")


def repair_uscc(raw: str) -> tuple[str, bool] | None:
    """The valid USCC `raw` was most likely printed as, and whether it had to be changed; None if unsure."""
    candidate = _compact(raw).upper()
    if len(candidate) != 18:
        return None
    if uscc.is_valid(candidate):
        return candidate, False
    # The first 8 characters are digits, and I O S V Z are not in the alphabet at all: those fixes are certain.
    fixed = candidate[:8].translate(_AS_DIGIT) + candidate[8:].translate(_NOT_IN_USCC)
    if any(c not in _USCC_ALPHABET for c in fixed) or not fixed[:8].isdigit():
        return None
    if uscc.is_valid(fixed):
        return fixed, True
    # One look-alike swap, accepted only when exactly one swap makes the checksum valid.
    found = {swapped for swapped in _swaps(fixed, _USCC_LOOKALIKES, start=8) if uscc.is_valid(swapped)}
    return (found.pop(), True) if len(found) == 1 else None


def repair_ric(raw: str) -> tuple[str, bool] | None:
    """The valid ID number `raw` was most likely printed as; only certain letter-for-digit fixes, no guessing."""
    candidate = _compact(raw).upper().replace("×", "X")
    if len(candidate) != 18:
        return None
    if ric.is_valid(candidate):
        return candidate, False
    fixed = candidate[:17].translate(_AS_DIGIT) + candidate[17]
    if fixed[17] != "X":
        fixed = fixed[:17] + fixed[17].translate(_AS_DIGIT)
    # A mod-11 check digit would accept one random digit swap in eleven, so digit-for-digit swaps are not tried.
    return (fixed, True) if ric.is_valid(fixed) else None


def _swaps(text: str, table: Mapping[str, str], start: int = 0) -> Iterable[str]:
    for i in range(start, len(text)):
        for other in table.get(text[i], ""):
            yield text[:i] + other + text[i + 1:]


# --- Aliyun -----------------------------------------------------------------------------------------------

API_VERSION = "2021-07-07"
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 8
# A value ends at the next (encoded) separator; base64 signatures carry %2B, %2F and %3D inside.
_KEY_IN_TEXT = re.compile(r"(AccessKeyId|Signature|SignatureNonce)(=|%3D|%253D)(?:%2[BF]|%3D|[^&%\s'\"])+",
                          re.IGNORECASE)


class SdkLogRedaction(logging.Filter):
    """aliyunsdkcore logs request URLs and the server's string-to-sign, both holding the AccessKeyId, and
    one of its loggers carries its own stderr handler: mask them on the SDK's loggers, before any handler."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def redact(self, text: str) -> str:
        text = _KEY_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_redaction = SdkLogRedaction()


def install_sdk_log_redaction(*secrets: str) -> SdkLogRedaction:
    import aliyunsdkcore.client  # noqa: F401  (creates the SDK's module loggers, which the filter goes on)

    _redaction.secrets.update(s for s in secrets if s)
    # Logger filters do not apply to records of child loggers, so each SDK module logger gets it.
    for name in list(logging.root.manager.loggerDict):
        if name == "aliyunsdkcore" or name.startswith("aliyunsdkcore."):
            sdk_logger = logging.getLogger(name)
            if _redaction not in sdk_logger.filters:
                sdk_logger.addFilter(_redaction)
    return _redaction


def _probabilities(block: Mapping[str, Any]) -> dict[str, float]:
    probs: dict[str, float] = {}
    for item in block.get("prism_keyValueInfo") or ():
        if isinstance(item, Mapping) and isinstance(item.get("valueProb"), (int, float)):
            probs[str(item.get("key"))] = float(item["valueProb"]) / 100
    return probs


def _pick(data: Mapping[str, Any], probs: Mapping[str, float], key: str) -> tuple[str | None, float]:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        return None, 0.0
    # Aliyun only omits prism_keyValueInfo on older algorithm versions; its structured fields are then trusted.
    return value.strip(), probs.get(key, 1.0)


class AliyunOcr:
    """ocr-api 2021-07-07 through aliyun-python-sdk-core, the photo as the request body."""

    def __init__(self, access_key_id: str, access_key_secret: str, region: str = "cn-shenzhen",
                 endpoint: str | None = None, connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, proxy: dict[str, str | None] | None = None) -> None:
        from aliyunsdkcore.client import AcsClient

        install_sdk_log_redaction(access_key_id, access_key_secret)
        self.endpoint = endpoint or f"ocr-api.{region}.aliyuncs.com"
        # No SDK retries: a retry after a read timeout doubles the wait, and throttling is not cured in
        # milliseconds; the job queue retries, and the user can type the values meanwhile.
        self._client = AcsClient(access_key_id, access_key_secret, region, auto_retry=False, max_retry_time=0,
                                 connect_timeout=connect_timeout, timeout=read_timeout, proxy=proxy)

    def _call(self, action: str, image: bytes) -> Mapping[str, Any]:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self.endpoint, version=API_VERSION, action_name=action)
        request.set_method("POST")
        request.set_protocol_type("https")
        request.set_accept_format("JSON")
        request.set_content(image)
        request.set_content_type("application/octet-stream")
        try:
            body = self._client.do_action_with_exception(request)
        except ServerException as exc:
            detail = _redaction.redact(f"{action}: {exc.get_error_code()} (HTTP {exc.get_http_status()}) "
                                       f"{exc.get_error_msg()}")
            log.warning("Aliyun OCR failed: %s", detail)
            # `from None`: the SDK's exception text may hold the string-to-sign with the AccessKeyId.
            raise OcrUnavailable(detail) from None
        except ClientException as exc:
            detail = _redaction.redact(f"{action}: {exc.get_error_code()} {exc.get_error_msg()}")
            log.warning("Aliyun OCR unreachable: %s", detail)
            raise OcrUnavailable(detail) from None
        except IndexError:
            # The SDK's own parser of a SignatureDoesNotMatch message fails on a reply without a ':'.
            log.warning("Aliyun OCR %s: unparseable error reply", action)
            raise OcrUnavailable(f"{action}: unparseable error reply") from None
        return self._data(action, body)

    @staticmethod
    def _data(action: str, body: bytes) -> Mapping[str, Any]:
        # A reply we cannot parse is the service's fault, not the photo's: OcrUnavailable, so the user is not
        # sent off to take the same picture again.
        try:
            reply = json.loads(body)
            data = json.loads(reply["Data"])
        except (ValueError, TypeError, KeyError) as exc:
            raise OcrUnavailable(f"{action}: reply without a JSON Data string ({type(exc).__name__})") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("data"), Mapping):
            raise OcrUnavailable(f"{action}: Data has no data object")
        return data

    def licence(self, image: bytes) -> LicenceFields:
        data = self._call("RecognizeBusinessLicense", image)
        fields, probs = data["data"], _probabilities(data)
        values = {name: _pick(fields, probs, key) for name, key in (
            ("name", "companyName"), ("uscc", "creditCode"), ("address", "businessAddress"),
            ("legal_person", "legalPerson"))}
        if not any(value for value, _ in values.values()):
            raise OcrUnreadable("RecognizeBusinessLicense: no field in the reply")
        return LicenceFields(**{k: v for k, (v, _) in values.items()},
                             confidence={k: p for k, (v, p) in values.items() if v})

    def _side(self, image: bytes, side: str) -> tuple[Mapping[str, Any], dict[str, float]]:
        data = self._call("RecognizeIdcard", image)
        block = data["data"].get(side)
        # The other side of the card, or no card: the photo was read, the fields we want are not on it.
        if not isinstance(block, Mapping) or not isinstance(block.get("data"), Mapping):
            raise OcrUnreadable(f"RecognizeIdcard: no {side} side in the reply")
        return block["data"], _probabilities(block)

    def id_front(self, image: bytes) -> IdFrontFields:
        fields, probs = self._side(image, "face")
        values = {name: _pick(fields, probs, key) for name, key in (
            ("name", "name"), ("id_number", "idNumber"), ("sex", "sex"), ("birth", "birthDate"),
            ("address", "address"))}
        if not values["name"][0] and not values["id_number"][0]:
            raise OcrUnreadable("RecognizeIdcard: neither name nor idNumber")
        birth_text = values.pop("birth")
        birth = parse_cn_date(birth_text[0]) if birth_text[0] else None
        confidence = {k: p for k, (v, p) in values.items() if v}
        if birth:
            confidence["birth"] = birth_text[1]
        return IdFrontFields(**{k: v for k, (v, _) in values.items()}, birth=birth, confidence=confidence)

    def id_back(self, image: bytes) -> IdBackFields:
        fields, probs = self._side(image, "back")
        issuer, issuer_p = _pick(fields, probs, "issueAuthority")
        period, period_p = _pick(fields, probs, "validPeriod")
        start, end, long_term = parse_period(period or "")
        if not issuer and not start:
            raise OcrUnreadable("RecognizeIdcard: neither issueAuthority nor validPeriod")
        confidence = {"issuer": issuer_p} if issuer else {}
        if start:
            confidence.update(valid_from=period_p, valid_to=period_p)
        return IdBackFields(issuer, start, end, long_term, confidence)


# --- offline ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TextBox:
    """One recognised line: its text, the recogniser's score and its quadrilateral in image pixels."""

    text: str
    score: float
    points: tuple[tuple[float, float], ...]

    @property
    def key(self) -> str:
        return _compact(self.text)

    @property
    def x0(self) -> float:
        return min(p[0] for p in self.points)

    @property
    def x1(self) -> float:
        return max(p[0] for p in self.points)

    @property
    def y0(self) -> float:
        return min(p[1] for p in self.points)

    @property
    def y1(self) -> float:
        return max(p[1] for p in self.points)

    @property
    def height(self) -> float:
        (ax, ay), (bx, by), (cx, cy), (dx, dy) = self.points[:4]
        return max(1.0, ((dy - ay) + (cy - by)) / 2)

    @property
    def centre(self) -> tuple[float, float]:
        return sum(p[0] for p in self.points) / 4, sum(p[1] for p in self.points) / 4

    @property
    def slope(self) -> float:
        (ax, ay), (bx, by) = self.points[:2]
        return (by - ay) / (bx - ax) if bx - ax > 1 else 0.0


Region = tuple[float, float, float, float]
Recogniser = Callable[[Region], "tuple[str, float] | None"]

LICENCE_LABELS = {
    "name": ("企业名称", "单位名称", "机构名称", "名称"),
    "address": ("主要经营场所", "经营场所", "营业场所", "单位地址", "住所", "地址"),
    "legal_person": ("执行事务合伙人", "法定代表人", "负责人", "经营者", "投资人"),
}
# Every label on the documents, so that a label is never taken for the value of its neighbour.
OTHER_LABELS = ("统一社会信用代码", "类型", "注册资本", "成立日期", "营业期限", "经营范围", "登记机关", "注册号",
                "姓名", "性别", "民族", "出生", "住址", "公民身份号码", "签发机关", "有效期限")
ALL_LABELS = tuple(label for labels in LICENCE_LABELS.values() for label in labels) + OTHER_LABELS


def _label_rest(box: TextBox, labels: Iterable[str]) -> str | None:
    """The text after the label `box` starts with, or None; long labels may have one misread character."""
    key = box.key.lstrip(":：")
    for label in labels:
        head = key[:len(label)]
        if head == label or (len(label) >= 4 and len(head) == len(label)
                             and sum(a != b for a, b in zip(head, label)) == 1):
            return key[len(label):].lstrip(":：")
    return None


class Page:
    """The boxes of one photo, with the geometry to find a label's value beside it and its continuation lines."""

    def __init__(self, boxes: list[TextBox], recognise: Recogniser | None = None) -> None:
        self.boxes = sorted(boxes, key=lambda b: (b.y0, b.x0))
        self.recognise = recognise

    def right_of(self, box: TextBox) -> TextBox | None:
        cx, cy = box.centre
        best: TextBox | None = None
        for other in self.boxes:
            ox, oy = other.centre
            # The label's own slope tells where its row lies further right on a tilted photo.
            off_row = abs(oy - (cy + box.slope * (ox - cx))) > 0.7 * box.height
            if other is box or off_row or not -box.height < other.x0 - box.x1 < 12 * box.height:
                continue
            if best is None or other.x0 < best.x0:
                best = other
        return best

    def below(self, box: TextBox, value_x0: float) -> list[TextBox]:
        """Lines continuing a value: starting under it, each one line below the previous one, not a label."""
        found: list[TextBox] = []
        last = box
        while True:
            lx, ly = last.centre
            nxt = [b for b in self.boxes
                   if b is not box and b not in found
                   # Centres, slope-corrected: on a tilted photo the boxes' y-extents of two lines overlap.
                   and 0.5 * box.height < b.centre[1] - (ly + last.slope * (b.centre[0] - lx)) < 2.0 * box.height
                   and abs(b.x0 - value_x0) < 1.5 * box.height
                   and _label_rest(b, ALL_LABELS) is None]
            if not nxt:
                return found
            last = min(nxt, key=lambda b: b.y0)
            found.append(last)

    def labelled(self, labels: Iterable[str], multiline: bool = False) -> tuple[str | None, float]:
        labels = tuple(labels)
        for box in self.boxes:
            rest = _label_rest(box, labels)
            if rest is None:
                continue
            parts: list[TextBox]
            beside = self.right_of(box)
            if rest and beside is not None and beside.x0 < box.x1 - 0.3 * box.height and len(rest) <= 2:
                # Two overlapping detections: the label's box caught a sliver of the value's first glyph.
                rest = ""
            if rest:
                # Label and value in one box: estimate where the value starts for the continuation lines.
                value_x0 = box.x0 + (box.x1 - box.x0) * (1 - len(rest) / max(1, len(box.key)))
                parts, text = [box], rest
            else:
                value = beside
                if value is None or _label_rest(value, ALL_LABELS) is not None:
                    found = self._recognise_beside(box, value)
                    if found:
                        return found
                    continue
                value_x0, parts, text = value.x0, [value], value.text
            if multiline:
                more = self.below(parts[0], value_x0)
                parts += more
                text += "".join(b.text for b in more)
            text = _clean_value(text)
            if text:
                return text, min(b.score for b in parts)
        return None, 0.0

    def _recognise_beside(self, label: TextBox, stop: TextBox | None) -> tuple[str, float] | None:
        """The detector misses some short values (a two-character name); read the strip beside the label."""
        if self.recognise is None:
            return None
        h = label.height
        right = min(label.x1 + 10 * h, stop.x0 - 0.3 * h if stop else float("inf"))
        if right - label.x1 < 2 * h:
            return None
        found = self.recognise((label.x1 + 0.3 * h, label.y0 - 0.3 * h, right, label.y1 + 0.3 * h))
        if found and found[1] >= MIN_RESCUE_SCORE and _clean_value(found[0]):
            return _clean_value(found[0]), found[1]
        return None

    def find(self, pattern: re.Pattern[str], transform: Callable[[str], str] = _compact) -> list[tuple[str, TextBox]]:
        return [(m.group(0), b) for b in self.boxes for m in pattern.finditer(transform(b.text))]


_ALNUM18 = re.compile(r"[0-9A-Z]{18}")
_ID18 = re.compile(r"[0-9OQDILZSBGT|]{17}[0-9X]")


def _number(page: Page, pattern: re.Pattern[str], repair: Callable[[str], tuple[str, bool] | None]
            ) -> tuple[str | None, float]:
    raw: tuple[str, float] | None = None
    for text, box in page.find(pattern, lambda t: re.sub(r"[^0-9A-Z|]", "", _compact(t).upper())):
        fixed = repair(text)
        if fixed:
            value, changed = fixed
            return value, box.score * (REPAIRED_CONFIDENCE if changed else 1.0)
        raw = raw or (text, box.score * 0.5)
    # Nothing checks out: hand back what was read, so the dialogue shows it and asks for a correction.
    return raw if raw else (None, 0.0)


_engine: Any = None
_engine_lock = threading.Lock()
_infer_lock = threading.Lock()


def _load_engine() -> Any:
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                from rapidocr_onnxruntime import RapidOCR

                # The wheel carries the PP-OCRv4 det/rec and the direction classifier: nothing is downloaded.
                _engine = RapidOCR()
    return _engine


class LocalOcr:
    """rapidocr-onnxruntime (PP-OCRv4 Chinese models in the wheel), then labels and checksums pick the fields."""

    @staticmethod
    def _picture(image: bytes) -> Any:
        from PIL import Image, ImageOps, UnidentifiedImageError

        try:
            picture = Image.open(io.BytesIO(image))
            # Phones store the camera's orientation in EXIF instead of rotating the pixels.
            return ImageOps.exif_transpose(picture).convert("RGB")
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as exc:
            raise OcrUnreadable(f"not an image: {type(exc).__name__}") from None

    def read(self, image: bytes) -> list[TextBox]:
        """Every line on the photo: detection, direction and recognition, once."""
        return self._read(self._picture(image))

    @staticmethod
    def _read(picture: Any) -> list[TextBox]:
        engine = _load_engine()
        # RapidOCR keeps per-call settings and pre-processing ops on the engine object: one call at a time.
        with _infer_lock:
            result, _ = engine(picture)
        return [TextBox(str(text), float(score), tuple((float(x), float(y)) for x, y in points))
                for points, text, score in result or ()]

    @staticmethod
    def _recognise(picture: Any, region: Region) -> tuple[str, float] | None:
        left, top, right, bottom = region
        box = (max(0, int(left)), max(0, int(top)), min(picture.width, int(right)), min(picture.height, int(bottom)))
        if box[2] - box[0] < 8 or box[3] - box[1] < 8:
            return None
        engine = _load_engine()
        with _infer_lock:
            result, _ = engine(picture.crop(box), use_det=False, use_cls=False)
        if not result:
            return None
        text, score = result[0]
        return str(text), float(score)

    def _page(self, image: bytes) -> Page:
        picture = self._picture(image)
        return Page(self._read(picture), lambda region: self._recognise(picture, region))

    def licence(self, image: bytes) -> LicenceFields:
        return read_licence(self._page(image))

    def id_front(self, image: bytes) -> IdFrontFields:
        return read_id_front(self._page(image))

    def id_back(self, image: bytes) -> IdBackFields:
        return read_id_back(self._page(image))


def read_licence(page: Page) -> LicenceFields:
    values = {
        "name": page.labelled(LICENCE_LABELS["name"]),
        "uscc": _number(page, _ALNUM18, repair_uscc),
        "address": page.labelled(LICENCE_LABELS["address"], multiline=True),
        "legal_person": page.labelled(LICENCE_LABELS["legal_person"]),
    }
    if not any(v for v, _ in values.values()):
        raise OcrUnreadable("licence: no field found")
    return LicenceFields(**{k: v for k, (v, _) in values.items()},
                         confidence={k: p for k, (v, p) in values.items() if v})


def read_id_front(page: Page) -> IdFrontFields:
    name = page.labelled(("姓名",))
    number = _number(page, _ID18, repair_ric)
    if not name[0] and not number[0]:
        raise OcrUnreadable("id front: neither name nor number")
    sex, sex_p = page.labelled(("性别",))
    sex = sex[:1] if sex and sex[:1] in "男女" else None
    birth_text, birth_p = page.labelled(("出生",))
    birth = parse_cn_date(birth_text) if birth_text else None
    address = page.labelled(("住址",), multiline=True)
    values = {"name": name, "id_number": number, "sex": (sex, sex_p), "address": address}
    confidence = {k: p for k, (v, p) in values.items() if v}
    if birth:
        confidence["birth"] = birth_p
    return IdFrontFields(**{k: v for k, (v, _) in values.items()}, birth=birth, confidence=confidence)


def read_id_back(page: Page) -> IdBackFields:
    issuer, issuer_p = page.labelled(("签发机关",))
    start: date | None = None
    end: date | None = None
    long_term = False
    period_p = 0.0
    for box in page.boxes:
        start, end, long_term = parse_period(box.text)
        if start:
            period_p = box.score
            break
    if not issuer and not start:
        raise OcrUnreadable("id back: neither issuer nor validity")
    confidence = {"issuer": issuer_p} if issuer else {}
    if start:
        confidence.update(valid_from=period_p, valid_to=period_p)
    return IdBackFields(issuer, start, end, long_term, confidence)


def make_ocr(settings: Settings) -> Ocr:
    """Aliyun when its credentials are set, else the offline engine (the embedded default)."""
    if settings.aliyun_access_key_id and settings.aliyun_access_key_secret:
        return AliyunOcr(settings.aliyun_access_key_id, settings.aliyun_access_key_secret, settings.aliyun_region,
                         endpoint=settings.aliyun_ocr_endpoint, connect_timeout=settings.aliyun_connect_timeout_s,
                         read_timeout=settings.aliyun_ocr_timeout_s)
    return LocalOcr()


__all__ = ["Ocr", "AliyunOcr", "LocalOcr", "make_ocr", "LicenceFields", "IdFrontFields", "IdBackFields",
           "OcrError", "OcrUnavailable", "OcrUnreadable", "repair_uscc", "repair_ric", "parse_period",
           "install_sdk_log_redaction"]
