"""The identity page over HTTP: ID photos read by OCR and matched to the form (wrong person, expired card),
the sandbox liveness, the result pushed to chat, three failures offering a human, links bound to the user."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from urllib.parse import urlparse

import pytest
import requests
from PIL import Image

from bot import documents, steps
from bot.simclient import WeChatUser
from bot.uploads import inspect
from dialogs import validators
from tests.bot.test_application_http import CASES, fill
from tests.conftest import wait_for
from tests.dialogs.conftest import TYPICAL
from tests.support import synthetic_docs

FONT = synthetic_docs.find_font()
pytestmark = pytest.mark.skipif(FONT is None, reason=synthetic_docs.NO_FONT_REASON)
TODAY = date.today()


def _person(seed: int) -> synthetic_docs.SyntheticDoc:
    """A synthetic ID card whose number the form accepts (the generator may pick a district code that did not
    exist in the birth year, which GB 11643 validation rightly refuses)."""
    for s in range(seed, seed + 100):
        doc = synthetic_docs.id_front(s, FONT)
        try:
            validators.id_number(doc.truth["id_number"])
        except validators.Invalid:
            continue
        return doc
    raise AssertionError("no valid person among the seeds")


def _back(valid: bool) -> synthetic_docs.SyntheticDoc:
    for seed in range(200):
        doc = synthetic_docs.id_back(seed, FONT)
        end = doc.truth["valid_to"]
        if valid == (end == "" or date.fromisoformat(end) > TODAY):
            return doc
    raise AssertionError("no such card among the seeds")


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (seed * 50 % 255, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def at_identity_step(live, redis_client, person: synthetic_docs.SyntheticDoc, kind: str = "org"):
    """An application whose handler (or natural person) is `person`, with its documents already in."""
    user = WeChatUser(live.url)
    user.text("申请证书")
    who = "person" if kind == "person" else "handler"
    fill(user, redis_client, {**TYPICAL, **CASES[kind], f"{who}.name": person.truth["name"],
                              f"{who}.id": person.truth["id_number"]})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    svc = live.services
    record = svc.store.record(number)
    for i, doc in enumerate(documents.required(record)):
        data = _jpeg(i)
        record, _ = documents.accept(svc.store, svc.files, number, doc, data, inspect(data), datetime.now(), 30)
    replies = steps.documents_complete(svc, record, datetime.now())
    assert svc.store.record(number).status == "identity" and replies
    url = svc.links.url("identity", user.openid, number, "/m/identity")
    return user, number, url


def _submit(url: str, front: bytes, back: bytes, session: requests.Session | None = None) -> requests.Response:
    http = session or requests.Session()
    return http.post(url, files={"front": ("f.jpg", front, "image/jpeg"), "back": ("b.jpg", back, "image/jpeg")},
                     allow_redirects=False)


def _liveness(http: requests.Session, location: str, outcome: str, reason: str = "204") -> requests.Response:
    page = http.get(location)
    assert page.status_code == 200 and "模拟活体检测" in page.text
    form = {"outcome": outcome} if outcome == "pass" else {"outcome": outcome, "reason": reason}
    return http.post(location, data=form, allow_redirects=True)


def test_the_right_person_passes_and_the_chat_is_told(live, redis_client, worker):
    person = _person(1100)
    user, number, url = at_identity_step(live, redis_client, person)
    page = requests.get(url)
    assert page.status_code == 200 and "经办人身份认证" in page.text
    assert person.truth["name"] not in page.text and person.truth["id_number"] not in page.text  # masked

    http = requests.Session()
    started = _submit(url, person.image, _back(True).image, http)
    assert started.status_code == 303
    location = started.headers["Location"]
    assert urlparse(location).path.startswith("/sandbox/liveness/")
    done = _liveness(http, location, "pass")
    assert done.status_code == 200 and "恭喜！认证通过" in done.text
    assert live.services.store.record(number).status == "payment"
    pushed = wait_for(lambda: [m for m in user.pushed() if "认证通过" in m.get("text", {}).get("content", "")])
    assert "请选择付款方式" in "".join(m["text"]["content"] for m in user.pushed() if m.get("msgtype") == "text")
    assert pushed
    # the same return page opened again changes nothing
    assert "认证已完成" in http.get(done.url).text


def test_another_persons_id_card_is_refused(live, redis_client):
    person = _person(1200)
    stranger = _person(1300)
    _, number, url = at_identity_step(live, redis_client, person)
    resp = _submit(url, stranger.image, _back(True).image)
    assert resp.status_code == 400 and "身份证号码与申请表中经办人的不一致" in resp.text
    assert stranger.truth["id_number"] not in resp.text
    assert live.services.store.record(number).status == "identity"


def test_an_expired_id_card_is_refused(live, redis_client):
    person = _person(1400)
    _, number, url = at_identity_step(live, redis_client, person)
    resp = _submit(url, person.image, _back(False).image)
    assert resp.status_code == 400 and "过期" in resp.text
    assert live.services.store.record(number).status == "identity"


def test_a_natural_person_verifies_himself(live, redis_client):
    person = _person(1500)
    _, _, url = at_identity_step(live, redis_client, person, kind="person")
    assert "申请人身份认证" in requests.get(url).text


def test_three_failed_liveness_checks_offer_a_human(live, redis_client, worker):
    person = _person(1600)
    user, number, url = at_identity_step(live, redis_client, person)
    back = _back(True).image
    for attempt in range(3):
        http = requests.Session()
        started = _submit(url, person.image, back, http)
        done = _liveness(http, started.headers["Location"], "fail", "205")
        assert "认证未通过" in done.text
    texts = wait_for(lambda: [m["text"]["content"] for m in user.pushed()
                              if "人工" in m.get("text", {}).get("content", "")])
    assert "3次" in texts[0]
    record = live.services.store.record(number)
    assert record.status == "identity" and record.data["identity"]["attempts"] == 3


def test_identity_links_are_bound_to_their_user_and_application(live, redis_client):
    person = _person(1700)
    user, number, url = at_identity_step(live, redis_client, person)
    token = url.rsplit("/", 1)[1]
    assert requests.get(f"{live.url}/m/identity/{token[:-3]}xyz").status_code == 403  # tampered
    forwarded = live.services.links.url("identity", "o-someone-else", number, "/m/identity")
    assert requests.get(forwarded).status_code == 403  # signed, but for another user
    as_form = live.services.links.token("form", user.openid, number)
    assert requests.get(f"{live.url}/m/identity/{as_form}").status_code == 403  # another kind of link
