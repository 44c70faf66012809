"""The identity step: whose ID card is checked, what the photos must show, and how attempts are counted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.providers.ocr import Ocr, OcrError, OcrUnavailable
from bot.records import ApplicationRecord

MAX_ATTEMPTS = 3  # after three failed checks the user is offered a human agent


class IdentityMismatch(Exception):
    """The photos can't pass: the Chinese message says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class IdentityUnavailable(IdentityMismatch):
    """The photos could not be read because the recognition service is down: not the user's photos' fault."""


UNAVAILABLE_MESSAGE = "证件识别服务暂时不可用，请稍后再试。"


@dataclass(frozen=True)
class Subject:
    role: str  # 经办人 | 申请人
    name: str
    id_number: str


def subject(record: ApplicationRecord) -> Subject:
    """The 经办人 verifies for a unit; for a 自然人证书 the applicant himself (as the hall does)."""
    data = record.data
    if data.get("cert_type_id") == "person" and data.get("natural_person"):
        person = data["natural_person"]
        return Subject("申请人", person["name"], person["id_number"])
    handler = data["handler"]
    return Subject("经办人", handler["name"], handler["id_number"])


def state(record: ApplicationRecord) -> dict[str, Any]:
    return dict(record.data.get("identity") or {})


def check_photos(ocr: Ocr, who: Subject, front: bytes, back: bytes, today: date) -> None:
    """Both sides read, the front matches the form, the card is still valid."""
    try:
        face = ocr.id_front(front)
    except OcrUnavailable:
        raise IdentityUnavailable(UNAVAILABLE_MESSAGE) from None
    except OcrError:
        raise IdentityMismatch("没能识别身份证人像面，请在光线充足处拍摄完整、清晰的人像面后重试。") from None
    try:
        emblem = ocr.id_back(back)
    except OcrUnavailable:
        raise IdentityUnavailable(UNAVAILABLE_MESSAGE) from None
    except OcrError:
        raise IdentityMismatch("没能识别身份证国徽面，请拍摄完整、清晰的国徽面（有效期限一面）后重试。") from None
    if (face.id_number or "").upper() != who.id_number.upper():
        raise IdentityMismatch(
            f"身份证号码与申请表中{who.role}的不一致。请上传{who.role}{_mask_name(who.name)}本人的身份证；"
            "如申请表填错了，请回复“人工”修改。"
        )
    if (face.name or "").replace(" ", "") != who.name:
        raise IdentityMismatch(f"身份证姓名与申请表中{who.role}姓名不一致，请核对后重新上传{who.role}本人的身份证。")
    if emblem.long_term:
        return
    if emblem.valid_to is None:
        raise IdentityMismatch("没能看清身份证有效期限，请重新拍摄国徽面。")
    if emblem.valid_to < today:
        raise IdentityMismatch(
            f"这张身份证已于{emblem.valid_to:%Y年%m月%d日}过期，无法用于认证。请使用有效期内的身份证（可先到派出所换领）。"
        )


def _mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if name else ""
