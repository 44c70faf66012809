"""Photos over HTTP: OCR auto-fill during the form, then the documents step (recognise, ask, keep, replace,
refuse), and the retention purge. The worker is a real `szca-bot worker` process; OCR is the offline engine."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta

import pytest
from PIL import Image

from bot import documents
from bot.simclient import WeChatUser
from bot.store import conv_key
from tests.bot.test_application_http import CASES, fill
from tests.conftest import upload_media, wait_for
from tests.dialogs.conftest import TYPICAL
from tests.support import synthetic_docs

FONT = synthetic_docs.find_font()
needs_font = pytest.mark.skipif(FONT is None, reason=synthetic_docs.NO_FONT_REASON)


def _dialog(redis_client, openid: str) -> dict:
    return json.loads(redis_client.get(conv_key(openid)))["dialog"]


def _answer_until(user, redis_client, answers: dict[str, str], field: str) -> None:
    for _ in range(40):
        key = re.sub(r"\.\d+\.", ".", _dialog(redis_client, user.openid)["cursor"])
        if key == field:
            return
        user.text(answers[key])
    raise AssertionError(f"never asked {field}")


def _pushed_after(user: WeChatUser, seen: int, needle: str, timeout: float = 30) -> str:
    def find():
        for m in user.pushed(after=seen):
            text = m.get("text", {}).get("content", "")
            if needle in text:
                return text
        return None

    return wait_for(find, timeout=timeout)


def _last_id(user: WeChatUser) -> int:
    pushed = user.pushed()
    return pushed[-1]["id"] if pushed else 0


def _plain_photo(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (640, 480), (seed * 40 % 255, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


@needs_font
def test_a_licence_photo_fills_the_unit_section_after_one_yes(live, redis_client, worker):
    lic = synthetic_docs.licence(1, FONT)
    user = WeChatUser(live.url)
    user.text("申请证书")
    _answer_until(user, redis_client, {**TYPICAL, **CASES["org"]}, "unit.name")
    seen = _last_id(user)
    assert "正在识别" in user.image(upload_media(live.url, lic.image)).text
    offer = _pushed_after(user, seen, lic.truth["uscc"])
    assert lic.truth["name"] in offer
    user.text("是")
    answers = _dialog(redis_client, user.openid)["answers"]
    assert answers["unit.name"] == lic.truth["name"]
    assert answers["unit.id_number"] == lic.truth["uscc"]
    assert answers["legal.name"] == lic.truth["legal_person"]


@needs_font
def test_an_id_card_photo_fills_the_name_and_number_of_the_section_asked(live, redis_client, worker):
    card = synthetic_docs.id_front(2, FONT)
    user = WeChatUser(live.url)
    user.text("申请证书")
    _answer_until(user, redis_client, {**TYPICAL, **CASES["org"]}, "handler.name")
    seen = _last_id(user)
    user.image(upload_media(live.url, card.image))
    _pushed_after(user, seen, card.truth["name"])
    user.text("是")
    answers = _dialog(redis_client, user.openid)["answers"]
    assert answers["handler.name"] == card.truth["name"] and answers["handler.id"] == card.truth["id_number"]


def test_a_photo_at_a_step_that_needs_none_says_where_photos_help(live, redis_client, worker):
    user = WeChatUser(live.url)
    user.text("申请证书")
    _answer_until(user, redis_client, {**TYPICAL, **CASES["org"]}, "mailing.address")
    seen = _last_id(user)
    user.image(upload_media(live.url, _plain_photo(1)))
    assert "营业执照" in _pushed_after(user, seen, "用不上证件照片")


@needs_font
def test_the_documents_step_recognises_asks_keeps_and_refuses(live, redis_client, worker):
    lic = synthetic_docs.licence(3, FONT)
    user = WeChatUser(live.url)
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES["org"], "unit.id_number": lic.truth["uscc"]})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    store = live.services.store
    assert documents.missing(store.record(number)) == ["application_form", "business_licence", "seal_sheet"]

    # 1. the licence is recognised by its credit code
    seen = _last_id(user)
    assert "正在检查" in user.image(upload_media(live.url, lic.image)).text
    ack = _pushed_after(user, seen, "已收到《营业执照》")
    assert "申请表" in ack and "印模采集表" in ack

    # 2. an unclear photo: the user is asked, and answers with a number
    seen = _last_id(user)
    user.image(upload_media(live.url, _plain_photo(2)))
    question = _pushed_after(user, seen, "这张是")
    assert "1 申请表" in question and "2 印模采集表" in question
    assert "还需要：印模采集表" in user.text("1").text

    # 3. a broken file: the reason, and nothing changes
    seen = _last_id(user)
    before = store.record(number).uploads
    user.image(upload_media(live.url, b"\xff\xd8\xff\xe0 this is not a jpeg"))
    assert "损坏" in _pushed_after(user, seen, "重新")
    assert store.record(number).uploads == before

    # 4. the last missing document needs no question
    seen = _last_id(user)
    user.image(upload_media(live.url, _plain_photo(3)))
    assert "资料已齐全" in _pushed_after(user, seen, "已收到《印模采集表》")

    record = store.record(number)
    assert set(record.uploads) == {"application_form", "business_licence", "seal_sheet"}
    assert all(live.services.files.get(u.key) for u in record.uploads.values())
    mine = user.text("我的申请").text
    assert "✓ 营业执照" in mine and "✗" not in mine

    # 5. a replacement keeps the new file and removes the old one
    old_key = record.uploads["seal_sheet"].key
    seen = _last_id(user)
    user.image(upload_media(live.url, _plain_photo(4)))
    assert "这张是" in _pushed_after(user, seen, "这张是")
    assert "替换《印模采集表》" in user.text("印模采集表").text
    assert live.services.files.get(old_key) is None


def test_the_retention_purge_deletes_record_and_files(live, redis_client):
    user = WeChatUser(live.url)
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES["person"]})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    store, files = live.services.store, live.services.files
    files.put(f"apps/{number}/application_form-x.jpg", b"x")
    documents.purge_expired(store, files, datetime.now())
    assert store.record(number) is not None  # within its retention period: kept
    store.update_record(number, lambda r: setattr(r, "retain_until", datetime.now() - timedelta(days=1)))
    assert documents.purge_expired(store, files, datetime.now()) >= 1
    assert store.record(number) is None and files.get(f"apps/{number}/application_form-x.jpg") is None
    assert number not in user.text("我的申请").text
