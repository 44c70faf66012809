"""A local stand-in for an Aliyun RPC API: checks the SDK's signed request like the real gateway, then lets a
subclass answer the action, so the real aliyun-python-sdk-core code path runs against 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from collections.abc import Callable
from typing import Any, Self
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

from tests.support.servers import free_port

COMMON_PARAMS = ("AccessKeyId", "Action", "Version", "Signature", "SignatureMethod", "SignatureNonce",
                 "SignatureVersion", "Timestamp", "Format")
FORM = "application/x-www-form-urlencoded"


def percent(text: str) -> str:
    """Aliyun's RPC percent-encoding: RFC 3986 unreserved characters stay, everything else %XX (space %20)."""
    return quote(text, safe="~")


def rpc_signature(method: str, params: dict[str, str], secret: str) -> tuple[str, str]:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode(), string_to_sign


class FakeRpcApi:
    """One product version as the gateway sees it: signed query string (plus a signed form body, when there is
    one), the common parameters, the key and the version checked before `answer_action` is asked."""

    version = ""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets
        self.error: tuple[int, str, str] | None = None  # (HTTP status, Code, Message) to answer instead
        self.delay_s = 0.0
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, reply = fake.answer(self.command, self.path, dict(self.headers), body)
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                payload = json.dumps(reply, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json;charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the timeout tests)

            do_GET = do_POST = _serve  # noqa: N815 (http.server's naming)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def actions(self) -> set[str]:
        raise NotImplementedError

    def answer_action(self, params: dict[str, str], body: bytes, request_id: str) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        params = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
        form: dict[str, str] = {}
        if headers.get("Content-Type", "").startswith(FORM):
            form = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.requests.append({"params": params, "form": form, "headers": headers, "body": body})
        request_id = f"FAKE-{len(self.requests):04d}"
        for name in COMMON_PARAMS:
            if name not in params:
                return 400, {"RequestId": request_id, "Code": "MissingParameter", "Message": f"{name} is mandatory."}
        secret = self.secrets.get(params["AccessKeyId"])
        if secret is None:
            return 404, {"RequestId": request_id, "Code": "InvalidAccessKeyId.NotFound",
                         "Message": "Specified access key is not found."}
        signature = params.pop("Signature")
        # The gateway signs the form body's parameters together with the query string's.
        expected, string_to_sign = rpc_signature(method, {**params, **form}, secret)
        if params["SignatureMethod"] != "HMAC-SHA1" or not hmac.compare_digest(signature, expected):
            # The real service echoes its string-to-sign, which holds the AccessKeyId and every parameter.
            return 400, {"RequestId": request_id, "Code": "SignatureDoesNotMatch",
                         "Message": f"Specified signature is not matched with our calculation. "
                                    f"server string to sign is:{string_to_sign}"}
        if params["Version"] != self.version or params["Action"] not in self.actions():
            return 404, {"RequestId": request_id, "Code": "InvalidAction.NotFound", "Message": "no such action"}
        if self.error:
            status, code, message = self.error
            return status, {"RequestId": request_id, "Code": code, "Message": message}
        return self.answer_action({**params, **form}, body, request_id)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assert_gives_up_fast(fake: FakeRpcApi, call: Callable[[], object], error: type[Exception]) -> None:
    """A gateway slower than the client's read timeout: `call` raises `error` well before the reply, and the
    SDK has not retried."""
    fake.delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(error):
        call()
    assert time.monotonic() - started < 2.0
    assert len(fake.requests) == 1


def log_everything(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, provider: str) -> None:
    """The worst case for leaks: DEBUG=sdk makes the SDK log every request line (and the gateway's replies)
    through its own stderr handler, and the provider's own logger is at DEBUG too."""
    monkeypatch.setenv("DEBUG", "sdk")
    caplog.set_level(logging.DEBUG, logger="aliyunsdkcore")
    caplog.set_level(logging.DEBUG, logger=provider)


__all__ = ["FakeRpcApi", "percent", "rpc_signature", "assert_gives_up_fast", "log_everything"]
