"""The back-office JSON API for SZCA's review system: bearer-token staff, every call audited, each action a
lifecycle move that also tells the applicant."""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from bot import documents, review
from bot.services import Services

bp = Blueprint("backoffice", __name__, url_prefix="/api/v1")


def _svc() -> Services:
    return current_app.extensions["szca"]["services"]


def _staff() -> str | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    given = header.removeprefix("Bearer ").strip().encode()
    for name, token in _svc().settings.staff_tokens.items():
        if token and hmac.compare_digest(given, token.encode()):
            return name
    return None


def _error(status: int, message: str) -> Response:
    resp = jsonify({"error": message})
    resp.status_code = status
    return resp


@bp.before_request
def authenticate() -> Response | None:
    staff = _staff()
    if staff is None:
        review.audit(_svc(), "-", f"{request.method} {request.path}", None, "401", request.remote_addr or "")
        return _error(401, "missing or invalid staff token")
    request.environ["szca.staff"] = staff
    return None


def _audit(action: str, number: str | None, outcome: str) -> None:
    review.audit(_svc(), request.environ["szca.staff"], action, number, outcome, request.remote_addr or "")


@bp.get("/applications")
def list_applications() -> Response:
    svc = _svc()
    status, platform = request.args.get("status"), request.args.get("platform")
    limit = min(request.args.get("limit", type=int, default=50), 200)
    found: list[dict[str, Any]] = []
    for number in reversed(svc.store.record_numbers()):
        record = svc.store.record(number)
        if record is None or (status and record.status != status) or (platform and platform not in record.platform):
            continue
        found.append(review.summary(record))
        if len(found) >= limit:
            break
    _audit("list", None, "200")
    return jsonify({"applications": found})


@bp.get("/handoffs")
def handoffs() -> Response:
    """Chats handed to agents, newest first, with the context an agent needs first (personal data masked)."""
    import json

    from bot.agents import HANDOFF_LOG

    limit = min(request.args.get("limit", type=int, default=50), 500)
    _audit("handoffs", None, "200")
    return jsonify({"handoffs": [json.loads(x) for x in _svc().redis.lrange(HANDOFF_LOG, 0, limit - 1)]})


@bp.get("/applications/<number>")
def read_application(number: str) -> Response:
    record = _svc().store.record(number)
    if record is None:
        _audit("read", number, "404")
        return _error(404, f"no application {number}")
    _audit("read", number, "200")
    body = {**review.summary(record), "data": record.data,
            "history": [h.model_dump(mode="json") for h in record.history],
            "documents": [{"doc": d, "name": documents.short_name(d), "uploaded": d in record.uploads,
                           "url": f"/api/v1/applications/{number}/documents/{d}" if d in record.uploads else None}
                          for d in documents.required(record)]}
    return jsonify(body)


@bp.get("/applications/<number>/documents/<doc>")
def document(number: str, doc: str) -> Response:
    svc = _svc()
    record = svc.store.record(number)
    upload = record.uploads.get(doc) if record else None
    data = svc.files.get(upload.key) if upload else None
    _audit(f"document:{doc}", number, "200" if data else "404")
    if data is None or upload is None:
        return _error(404, "no such document")
    kind = {"pdf": "application/pdf", "jpg": "image/jpeg"}.get(upload.kind, f"image/{upload.kind}")
    resp = Response(data, mimetype=kind)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.post("/applications/<number>/<action>")
def act(number: str, action: str) -> Response:
    handler = review.ACTIONS.get(action)
    if handler is None:
        return _error(404, f"no action {action}")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        body = {}
    svc = _svc()
    try:
        outcome = handler(svc, number, request.environ["szca.staff"], body)
    except review.ReviewError as exc:
        _audit(action, number, str(exc.status))
        return _error(exc.status, exc.message)
    if outcome.notification:
        from bot.steps import tell

        tell(svc, outcome.record, outcome.notification)
    _audit(action, number, "200")
    return jsonify(review.summary(outcome.record))
