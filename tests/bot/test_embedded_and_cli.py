"""The embedded default (no Redis, no WeChat) and the szca-bot commands, as a newcomer would run them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import requests

from bot import logs, messages
from bot.simclient import WeChatUser
from bot.store import hash_openid
from tests.conftest import wait_for
from tests.support.servers import free_port

ENV = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "WECHAT_APP_SECRET", "WECHAT_API_BASE_URL"}}


def test_embedded_default_pushes_through_the_emulator_on_a_thread_worker(make_live):
    server = make_live(redis_url=None)  # embedded fakeredis; jobs on threads
    assert server.services.settings.embedded_redis
    user = WeChatUser(server.url)
    assert user.click("HUMAN_AGENT").msg_type == "transfer_customer_service"
    pushed = wait_for(lambda: user.pushed())
    assert pushed[0]["text"]["content"] == messages.HANDOFF_PENDING


def test_serve_starts_on_the_embedded_default_and_prints_the_simulator_url():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = "".join(proc.stdout.readline() for _ in range(4))
        assert f"http://127.0.0.1:{port}/simulator" in banner
        health = wait_for(lambda: _get(f"http://127.0.0.1:{port}/healthz"), timeout=15)
        assert health == {"ok": True, "redis": "embedded"}
        assert "欢迎" in WeChatUser(f"http://127.0.0.1:{port}").event("subscribe").text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _get(url: str):
    try:
        return requests.get(url, timeout=1).json()
    except requests.RequestException:
        return None


def test_chat_command_talks_to_an_embedded_service():
    result = subprocess.run([sys.executable, "-m", "bot.cli", "chat"], input="帮助\n/click FAQ\n/quit\n",
                            env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "欢迎关注深圳CA" in result.stdout  # the subscribe on start
    assert "回复“申请证书”" in result.stdout
    assert "PIN码怎么获取" in result.stdout


def test_worker_command_refuses_to_run_without_redis():
    result = subprocess.run([sys.executable, "-m", "bot.cli", "worker"], env=ENV, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "REDIS_URL" in result.stderr


def test_one_log_line_per_message_with_the_openid_hashed(user, caplog):
    caplog.set_level(logging.INFO, logger="bot.callback")
    user.text("帮助")
    time.sleep(0.05)
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.callback" and r.getMessage().startswith("msg ")]
    assert len(lines) == 1
    assert f"user={hash_openid(user.openid)}" in lines[0] and user.openid not in lines[0]
    assert "type=text" in lines[0] and "handler=text.text" in lines[0] and "latency_ms=" in lines[0]


def test_the_log_formatter_masks_identifiers_even_in_tracebacks():
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "id %s mobile %s acct %s q openid=%s", (
        "110105194912310021", "13800138000", "6222 0212 3456 7890 123", "oABCDEF"), None)
    text = logs.MaskingFormatter("%(message)s").format(record)
    assert "110105194912310021" not in text and "13800138000" not in text and "6222 0212 3456 7890 123" not in text
    assert "oABCDEF" not in text and "138****8000" in text


def test_purge_command_runs_against_the_configured_redis(redis_url, tmp_path):
    env = {**ENV, "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "purge"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "purged" in result.stdout


def test_real_credentials_without_a_secret_key_refuse_to_start(redis_url):
    import pytest

    from bot.app import create_app
    from bot.config import Settings

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Settings(redis_url=redis_url, wechat_app_secret="real-secret"))
