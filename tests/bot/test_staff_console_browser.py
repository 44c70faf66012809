"""The staff console (/staff) in a real browser over the back-office API: a wrong token is refused, then a
transfer-paid application is found, its document previewed, approved and shipped from the page."""

from __future__ import annotations

import json
import re

import pytest
import requests

from bot.store import number_key, record_key
from tests.bot.test_backoffice_http import _act
from tests.bot.test_payment_http import at_payment_step
from tests.conftest import STAFF_TOKEN

HOSTILE = "<b>粗体</b><img src=x onerror=alert(1)>"


def test_the_page_holds_no_data_and_lets_only_its_own_script_run(live, redis_client):
    _, number = at_payment_step(live, redis_client)
    resp = requests.get(f"{live.url}/staff")
    assert resp.status_code == 200 and "业务受理台" in resp.text
    assert not re.search(r"SZ\d{14}", resp.text)
    nonce = re.search(r"script-src 'nonce-([^']+)'", resp.headers["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in resp.text
    assert resp.headers["X-Frame-Options"] == "DENY"


@pytest.fixture
def console_page(live):
    # Imported here, not at the top: without playwright or chromium only the browser test is skipped.
    from tests.bot.test_simulator_browser import CHROMIUM, CHROMIUM_ARGS, sync_api

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # A refused fetch (401, 400) is logged by the browser too; anything else, e.g. the CSP blocking, is not ok.
        page.on("console", lambda msg: msg.type == "error" and "Failed to load resource" not in msg.text
                and errors.append(msg.text))
        yield page, errors, sync_api.expect
        context.close()
        browser.close()


def test_log_in_find_preview_approve_and_ship(live, redis_client, console_page):
    page, js_errors, expect = console_page
    user, number = at_payment_step(live, redis_client)
    user.text("2")
    assert _act(live, number, "confirm-transfer").json()["status"] == "review"
    # Whatever the record holds is shown as text, never parsed as HTML.
    live.services.store.update_record(number, lambda r: r.data["unit"].update(address=HOSTILE))

    page.goto(f"{live.url}/staff")
    page.fill("#token", "not-the-token")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("口令无效")
    assert page.evaluate("sessionStorage.getItem('szca-staff-token')") is None

    page.fill("#token", STAFF_TOKEN)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#list")).to_be_visible()
    page.select_option("#status", label="待审核")
    row = page.locator(f'#rows tr[data-number="{number}"]')
    expect(row).to_contain_text("待审核")
    expect(page.locator("#rows tr", has_text="待缴费")).to_have_count(0)
    page.fill("#search", number)
    page.press("#search", "Enter")
    expect(page.locator("#rows tr")).to_have_count(1)
    row.click()

    expect(page.locator("#d-number")).to_have_text(number)
    expect(page.locator("#d-status")).to_have_text("待审核")
    unit = page.locator('section[data-section="unit"]')
    expect(unit).to_contain_text(HOSTILE)
    assert unit.locator("b, img").count() == 0
    expect(page.locator("#history tr")).not_to_have_count(0)
    preview = page.locator("#docs img").first
    expect(preview).to_be_visible()
    page.wait_for_function("() => { const i = document.querySelector('#docs img'); return i && i.naturalWidth > 0 }")
    expect(page.locator('#actions button[data-action="ship"]')).to_have_count(0)  # not before approval

    page.get_by_role("button", name="审核通过", exact=True).click()
    expect(page.locator("#d-status")).to_have_text("审核通过")
    owner = redis_client.get(number_key(number)).decode()
    assert json.loads(redis_client.get(record_key(owner, number)))["status"] == "approved"

    page.get_by_role("button", name="寄出", exact=True).click()
    form = page.locator('form.act[data-action="ship"]')
    form.locator('input[name="carrier"]').fill("顺丰速运")
    form.locator('input[name="tracking"]').fill("   ")  # passes the browser's check; the API refuses it
    form.get_by_role("button", name="确认寄出").click()
    expect(page.locator("#detail-error")).to_contain_text("'tracking' is required")
    expect(page.locator("#d-status")).to_have_text("审核通过")
    form.locator('input[name="tracking"]').fill("SF9876543210")
    form.get_by_role("button", name="确认寄出").click()
    expect(page.locator("#d-status")).to_have_text("已寄出")
    expect(page.locator('section[data-section="shipment"]')).to_contain_text("SF9876543210")
    record = live.services.store.record(number)
    assert record.status == "shipped" and record.history[-1].by == "staff:alice"

    page.evaluate("location.hash = ''")
    expect(page.locator("#list")).to_be_visible()
    page.get_by_role("button", name="退出").click()
    expect(page.locator("#login")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('szca-staff-token')") is None
    assert js_errors == []
