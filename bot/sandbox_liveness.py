"""The sandbox face check of the embedded default: a phone page that stands in for Aliyun's CertifyUrl, with
模拟通过 / 模拟不通过, then sends the browser back to the ReturnUrl as Aliyun does.  Never served with real
credentials."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request

from bot.providers.liveness import SUBCODE_MESSAGES, SandboxLiveness

bp = Blueprint("sandbox_liveness", __name__, template_folder="templates")

CERTIFY_ID = re.compile(r"^[0-9a-f]{32}$")
# The failures the page can simulate, as Cloudauth SubCodes so the result reads like a real one.
REASONS = {"204": "人脸不一致", "205": "未检测到活体"}
# Cloudauth's H5 page reports 1000 (passed) or 2006 (not passed) in the `response` it appends to ReturnUrl.
CLIENT_PASSED, CLIENT_FAILED = "1000", "2006"
UNKNOWN_TITLE = "认证链接无效"
UNKNOWN_MESSAGE = "这个人脸认证链接无效或已过期（有效期 1 小时），请返回微信重新发起认证。"
BAD_CHOICE = "请选择“模拟通过”或“模拟不通过”，不通过时请选择原因。"


def _services() -> Any:
    return current_app.extensions["szca"]["services"]


@bp.before_request
def sandbox_only() -> None:
    # Not registered with real credentials; refuse anyway, in case someone mounts it by hand.
    if not _services().settings.sandbox:
        abort(404)


def _checks() -> SandboxLiveness:
    svc = _services()
    return SandboxLiveness(svc.redis, svc.settings.base_url)


def _page(status: int = 200, **context: object) -> Response:
    return Response(render_template("sandbox_liveness.html", reasons=REASONS, **context), status=status,
                    mimetype="text/html")


def _unknown() -> Response:
    return Response(render_template("link_error.html", title=UNKNOWN_TITLE, message=UNKNOWN_MESSAGE), status=404,
                    mimetype="text/html")


def _load(certify_id: str) -> dict[str, Any] | None:
    return _checks().load(certify_id) if CERTIFY_ID.match(certify_id) else None


def return_url(check: dict[str, Any], certify_id: str) -> str:
    """The stored ReturnUrl with Aliyun's `response` appended, and `certify_id` for our own return page."""
    passed = check["status"] == "passed"
    response = {"code": CLIENT_PASSED if passed else CLIENT_FAILED, "subcode": check["code"],
                "reason": "" if passed else SUBCODE_MESSAGES.get(check["code"], ""),
                "extInfo": {"certifyId": certify_id}}
    parts = urlsplit(check["return_url"])
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("certify_id", certify_id), ("response", json.dumps(response, ensure_ascii=False))]
    return urlunsplit(parts._replace(query=urlencode(query)))


@bp.get("/sandbox/liveness/<certify_id>")
def page(certify_id: str) -> Response:
    check = _load(certify_id)
    if check is None:
        return _unknown()
    return _page(check=check, certify_id=certify_id, error=None)


@bp.post("/sandbox/liveness/<certify_id>")
def decide(certify_id: str) -> Response:
    check = _load(certify_id)
    if check is None:
        return _unknown()
    choice, reason = request.form.get("outcome"), request.form.get("reason", "204")
    if choice not in {"pass", "fail"} or (choice == "fail" and reason not in REASONS):
        return _page(400, check=check, certify_id=certify_id, error=BAD_CHOICE)
    # A second submit (back button, double tap) keeps the first outcome, as a used CertifyUrl does.
    decided = _checks().decide(certify_id, choice == "pass", "200" if choice == "pass" else reason)
    if decided is None:
        return _unknown()
    return redirect(return_url(decided, certify_id), code=303)
