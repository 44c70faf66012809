"""A WeChat API emulator for the embedded default and the tests: the real client talks to it over HTTP,
so pushes take the production code path.  Never mounted with real credentials.

Faults can be injected (POST /emulator/_faults) to exercise retries: a share of failing calls, token errors,
a fixed error code, a delay.  A delay models one of two timeouts the client cannot tell apart:
`delay_where: "before"` (default) holds the call and then answers 504 without delivering (a slow gateway that
gave up); `"after"` delivers, then holds the answer (WeChat sent it but our read timed out).  `delay_calls`
bounds how many calls are delayed (unset: all), `token_errors` how many answer 40001; both are counted down
atomically, so concurrent workers see exactly that many.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

bp = Blueprint("emulator", __name__)

TOKEN_TTL_S = 7200
MEDIA_TTL_S = 3 * 24 * 3600
OUTBOX = "emu:outbox"
FAULTS = "emu:faults"
# Counted-down faults live in their own keys: DECR is atomic where a read-modify-write of FAULTS is not.
BUDGETS = ("token_errors", "delay_calls")


def _svc() -> Any:
    return current_app.extensions["szca"]["services"]


def _err(code: int, msg: str) -> Response:
    return jsonify({"errcode": code, "errmsg": msg})


def _faults() -> dict[str, Any]:
    raw = _svc().redis.get(FAULTS)
    return json.loads(raw) if raw else {}


def _spend(name: str) -> bool:
    """One unit of a counted-down fault, if any is left."""
    return int(_svc().redis.decr(f"emu:budget:{name}")) >= 0


def _check_call() -> Response | None:
    """Token check and injected faults, applied to every API call but the token endpoint."""
    r = _svc().redis
    faults = _faults()
    if faults.get("delay_s") and ("delay_calls" not in faults or _spend("delay_calls")):
        r.incr("emu:count:delayed")
        if faults.get("delay_where", "before") == "after":
            g.delay_after_s = float(faults["delay_s"])  # _record holds the answer once the message is out
        else:
            time.sleep(float(faults["delay_s"]))
            return Response("gateway timeout", status=504)
    if faults.get("token_errors") and _spend("token_errors"):
        r.incr("emu:count:token_error")
        return _err(40001, "invalid credential, access_token is invalid or not latest")
    token = request.args.get("access_token", "")
    if not token or not r.exists(f"emu:token:{token}"):
        return _err(42001 if token else 41001, "access_token expired" if token else "access_token missing")
    if faults.get("fail_rate") and random.random() < float(faults["fail_rate"]):
        r.incr("emu:count:failed")
        return _err(int(faults.get("errcode", -1)), "system error")
    if faults.get("errcode") and not faults.get("fail_rate"):
        return _err(int(faults["errcode"]), "injected error")
    return None


@bp.get("/cgi-bin/token")
def token() -> Response:
    s = _svc().settings
    if request.args.get("appid") != s.wechat_app_id or request.args.get("secret") != s.wechat_app_secret:
        return _err(40125, "invalid appsecret")
    value = secrets.token_urlsafe(24)
    r = _svc().redis
    r.set(f"emu:token:{value}", b"1", ex=TOKEN_TTL_S)
    r.incr("emu:count:token")
    return jsonify({"access_token": value, "expires_in": TOKEN_TTL_S})


def _record(kind: str, payload: dict[str, Any]) -> int:
    r = _svc().redis
    seq = int(r.incr("emu:seq"))
    r.rpush(OUTBOX, json.dumps({"id": seq, "kind": kind, "at": time.time(), **payload}, ensure_ascii=False))
    if delay := g.get("delay_after_s"):
        time.sleep(delay)
    return seq


@bp.post("/cgi-bin/message/custom/send")
def custom_send() -> Response:
    if (fail := _check_call()) is not None:
        return fail
    body = request.get_json(force=True, silent=True) or {}
    if not body.get("touser") or body.get("msgtype") not in {"text", "image", "news", "voice", "video", "mpnews"}:
        return _err(40008, "invalid message type")
    _record("custom", body)
    return _err(0, "ok")


@bp.post("/cgi-bin/message/template/send")
def template_send() -> Response:
    if (fail := _check_call()) is not None:
        return fail
    body = request.get_json(force=True, silent=True) or {}
    if not body.get("touser") or not body.get("template_id"):
        return _err(40037, "invalid template_id")
    seq = _record("template", body)
    return jsonify({"errcode": 0, "errmsg": "ok", "msgid": seq})


@bp.post("/cgi-bin/media/upload")
def media_upload() -> Response:
    if (fail := _check_call()) is not None:
        return fail
    media = request.files.get("media")
    if media is None:
        return _err(41005, "media data missing")
    data = media.read()
    media_id = secrets.token_urlsafe(16)
    r = _svc().redis
    r.set(f"emu:media:{media_id}", data, ex=MEDIA_TTL_S)
    r.set(f"emu:media-type:{media_id}", media.mimetype or "application/octet-stream", ex=MEDIA_TTL_S)
    return jsonify({"type": request.args.get("type", "image"), "media_id": media_id, "created_at": int(time.time())})


@bp.get("/cgi-bin/media/get")
def media_get() -> Response:
    if (fail := _check_call()) is not None:
        return fail
    media_id = request.args.get("media_id", "")
    r = _svc().redis
    data = r.get(f"emu:media:{media_id}")
    if data is None:
        return _err(40007, "invalid media_id")
    kind = (r.get(f"emu:media-type:{media_id}") or b"application/octet-stream").decode()
    return Response(data, mimetype=kind)


@bp.post("/cgi-bin/menu/create")
def menu_create() -> Response:
    if (fail := _check_call()) is not None:
        return fail
    body = request.get_json(force=True, silent=True) or {}
    if not body.get("button"):
        return _err(40016, "invalid button size")
    _svc().redis.set("emu:menu", json.dumps(body, ensure_ascii=False))
    return _err(0, "ok")


# -- OAuth (snsapi_base): WeChat's browser knows the user; here the test names it with the emu_openid cookie --
@bp.get("/connect/oauth2/authorize")
def oauth_authorize() -> Response:
    from flask import redirect
    from urllib.parse import urlencode

    openid = request.cookies.get("emu_openid", "")
    code = secrets.token_urlsafe(12)
    _svc().redis.set(f"emu:oauth:{code}", openid, ex=300)
    sep = "&" if "?" in request.args.get("redirect_uri", "") else "?"
    return redirect(f"{request.args.get('redirect_uri', '')}{sep}{urlencode({'code': code, 'state': request.args.get('state', '')})}")


@bp.get("/sns/oauth2/access_token")
def oauth_access_token() -> Response:
    openid = _svc().redis.getdel(f"emu:oauth:{request.args.get('code', '')}")
    if not openid:
        return _err(40029, "invalid code")
    return jsonify({"access_token": secrets.token_urlsafe(16), "expires_in": 7200, "refresh_token": "r",
                    "openid": openid.decode(), "scope": "snsapi_base"})


# -- control endpoints for tests and the simulator --------------------------------------------------------
@bp.get("/_outbox")
def outbox() -> Response:
    after = request.args.get("after", type=int, default=0)
    to = request.args.get("to")
    items = [json.loads(x) for x in _svc().redis.lrange(OUTBOX, 0, -1)]
    return jsonify([m for m in items if m["id"] > after and (to is None or m.get("touser") == to)])


@bp.post("/_faults")
def set_faults() -> Response:
    faults = request.get_json(force=True, silent=True) or {}
    r = _svc().redis
    r.set(FAULTS, json.dumps(faults))
    for name in BUDGETS:
        r.set(f"emu:budget:{name}", int(faults.get(name) or 0))
    return jsonify(faults)


@bp.get("/_stats")
def stats() -> Response:
    r = _svc().redis
    names = ("token", "token_error", "failed", "delayed")
    return jsonify({n: int(r.get(f"emu:count:{n}") or 0) for n in names} | {"sent": r.llen(OUTBOX)})


@bp.post("/_reset")
def reset() -> Response:
    r = _svc().redis
    for key in r.scan_iter("emu:*"):
        r.delete(key)
    return jsonify({"ok": True})
