"""The simulator page in a real browser (Debian's chromium driven by Playwright): welcome, text, menu, photo,
pushes, reload and a fresh user.  UPDATE_SCREENSHOT=1 refreshes docs/simulator.png."""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import pytest

from bot import messages

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "simulator.png"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright python package is not installed")
# Two shared cores, with the worker running OCR jobs for other tests: give the page time, not a race.
sync_api.expect.set_options(timeout=15_000)


def noisy_photo(width: int = 480, height: int = 320) -> bytes:
    """A noisy PNG (noise does not compress), as a real phone photo would be."""
    rng = random.Random(7)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            n = rng.randint(-18, 18)
            rows += bytes((max(0, min(255, 40 + x * 200 // width + n)), max(0, min(255, 150 + n)),
                           max(0, min(255, 230 - y * 150 // height + n))))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


@pytest.fixture
def browser_page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 400, "height": 780}, device_scale_factor=2, locale="zh-CN")
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page, errors
        context.close()
        browser.close()


def test_chat_in_the_browser(live, browser_page, tmp_path):
    page, js_errors = browser_page
    expect = sync_api.expect
    bot_bubbles = page.locator(".row.bot .bubble")
    my_bubbles = page.locator(".row.me .bubble")

    page.goto(f"{live.url}/simulator")
    expect(bot_bubbles.first).to_contain_text("欢迎关注深圳CA")
    openid = page.evaluate("JSON.parse(localStorage.getItem('szca-simulator')).openid")

    page.fill("#text", "帮助")
    page.click("#send")
    expect(my_bubbles.last).to_have_text("帮助")
    expect(bot_bubbles).to_have_count(2)
    expect(bot_bubbles.nth(1)).not_to_be_empty()

    # User text is shown as text, never parsed as HTML.
    page.fill("#text", "<b>粗体</b>")
    page.press("#text", "Enter")
    expect(my_bubbles.last).to_have_text("<b>粗体</b>")
    assert my_bubbles.last.locator("b").count() == 0
    expect(bot_bubbles).to_have_count(3)

    page.get_by_role("button", name="常见问题").click()
    expect(bot_bubbles.last).to_have_text(messages.FAQ_MENU)

    # A sub-menu opens above its button and closes after a pick.
    page.get_by_role("button", name="证书办理").click()
    expect(page.get_by_role("button", name="我的申请")).to_be_visible()
    page.get_by_role("button", name="我的申请").click()
    expect(page.get_by_role("button", name="我的申请")).to_be_hidden()
    expect(bot_bubbles).to_have_count(5)
    expect(bot_bubbles.last).to_have_text(messages.MY_APPLICATIONS_EMPTY)

    # A photo: shrunk in the page, stored through the emulated media API, sent as an image message.
    photo = tmp_path / "营业执照.png"
    photo.write_bytes(noisy_photo())
    assert photo.stat().st_size > 60_000
    page.set_input_files("#file", str(photo))
    expect(page.locator(".row.me .bubble.photo img")).to_have_count(1)
    expect(bot_bubbles).to_have_count(6)
    # The bubble appears before its image has loaded: wait for the load, not for luck.
    page.wait_for_function("document.querySelector('.row.me .bubble.photo img').naturalWidth > 0", timeout=15_000)

    # What the service pushes through the customer-service API turns up by polling.
    live.services.wechat.message.send_text(openid, "【深圳CA】您的证书申请已提交，审核结果会在这里通知您。")
    expect(bot_bubbles.last).to_contain_text("您的证书申请已提交")

    page.fill("#text", "发票在哪里下载？")
    page.click("#send")
    expect(bot_bubbles).to_have_count(8)

    shot = SCREENSHOT if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "simulator.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot))

    # A reload continues the same conversation and shows it again.
    count = bot_bubbles.count()
    page.reload()
    expect(bot_bubbles).to_have_count(count)
    assert page.evaluate("JSON.parse(localStorage.getItem('szca-simulator')).openid") == openid

    # 新用户 starts over with a new openid and a new welcome.
    page.get_by_role("button", name="新用户").click()
    expect(bot_bubbles).to_have_count(1)
    expect(bot_bubbles.first).to_contain_text("欢迎关注深圳CA")
    assert page.evaluate("JSON.parse(localStorage.getItem('szca-simulator')).openid") != openid

    assert page.locator(".sys.err").count() == 0, page.locator(".sys.err").all_inner_texts()
    assert js_errors == []


def test_server_errors_show_as_a_red_line(live, browser_page):
    page, js_errors = browser_page
    # A corrupt stored openid, in place before the page's script runs: the server refuses it; the page says so
    # and keeps working.
    page.add_init_script(
        "localStorage.setItem('szca-simulator', JSON.stringify({openid: 'bad id!', after: 0, log: []}))"
    )
    page.goto(f"{live.url}/simulator")
    page.fill("#text", "你好")
    page.click("#send")
    sync_api.expect(page.locator(".sys.err", has_text="发送失败")).to_contain_text("用户标识无效")
    # The failing poll says so once, not every 1.5 s.
    page.wait_for_timeout(3500)
    assert page.locator(".sys.err", has_text="读取推送消息失败").count() == 1
    page.get_by_role("button", name="新用户").click()
    sync_api.expect(page.locator(".row.bot .bubble").first).to_contain_text("欢迎关注深圳CA")
    assert js_errors == []
