"""The identity check in a real browser (Debian's chromium): photograph both sides of the ID card, pass the
sandbox liveness, land on 恭喜！认证通过. UPDATE_SCREENSHOT=1 refreshes docs/identity.png."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tests.bot.test_identity_http import FONT, _back, _person, at_identity_step
from tests.bot.test_simulator_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
    pytest.mark.skipif(FONT is None, reason="no CJK font for the synthetic ID card photos"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright python package is not installed")


def test_id_capture_and_sandbox_liveness_in_chromium(live, redis_client):
    person = _person(2100)
    _, number, url = at_identity_step(live, redis_client, person)
    shot = Path("docs/identity.png") if os.environ.get("UPDATE_SCREENSHOT") else Path(tempfile.mkdtemp()) / "identity.png"
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 780}, is_mobile=True)
        page.goto(url)
        assert page.get_by_text("经办人身份认证").first.is_visible()
        page.set_input_files("#front", files=[{"name": "front.jpg", "mimeType": "image/jpeg", "buffer": person.image}])
        page.set_input_files("#back", files=[{"name": "back.jpg", "mimeType": "image/jpeg", "buffer": _back(True).image}])
        assert "已选择" in page.inner_text("#front-pick")
        page.click("#submit")
        page.wait_for_url("**/sandbox/liveness/**", timeout=20000)
        page.get_by_role("button", name="模拟通过").click()
        page.wait_for_selector("text=恭喜！认证通过", timeout=20000)
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert live.services.store.record(number).status == "payment"
