"""The browser simulator of the embedded default: a phone-sized chat page that speaks the real signed callback
protocol to /wechat and shows what the service pushed through the emulated customer-service API."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import requests
from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request
from werkzeug.exceptions import RequestEntityTooLarge
from wechatpy.exceptions import WeChatClientException

from bot import menu
from bot.simclient import Reply, WeChatUser

bp = Blueprint("simulator", __name__, template_folder="templates")

# WeChat openids are 28 URL-safe characters; the page makes its own, so accept a little more, nothing else.
OPENID = re.compile(r"^[A-Za-z0-9_-]{6,64}$")
MAX_TEXT = 2000
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/bmp"}
KINDS = {"text", "voice", "image", "click", "view", "subscribe", "unsubscribe"}

# What the page itself says when something goes wrong; the bot's own texts come back through /wechat.
TRANSFERRED = "已转人工客服"
BAD_OPENID = "用户标识无效，请点“新用户”重新开始。"
BAD_KIND = "不支持的消息类型。"
EMPTY = "内容不能为空。"
TOO_LONG = f"消息太长（最多 {MAX_TEXT} 字）。"
NO_IMAGE = "请选择一张图片（JPG、PNG、GIF 或 BMP）。"
IMAGE_TOO_LARGE = "图片太大，请换一张小一些的图片。"
UPLOAD_FAILED = "图片上传失败（{detail}）。"
UNREACHABLE = "无法连接公众号服务器（{detail}）。"
HTTP_ERROR = "公众号服务器返回 HTTP {status}：{body}"
OUTBOX_FAILED = "读取推送消息失败（{detail}）。"


def _settings() -> Any:
    return current_app.extensions["szca"]["services"].settings


@bp.before_request
def sandbox_only() -> None:
    # Not registered with real credentials; refuse anyway, in case someone mounts it by hand.
    if not _settings().sandbox:
        abort(404)


def _fail(message: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def _media_url(media_id: str) -> str:
    return f"/simulator/api/media/{media_id}"


@bp.get("/simulator")
def page() -> str:
    return render_template("simulator.html", menu=menu.load().get("button", []))


# -- sending: the page's actions become signed callback XML --------------------------------------------------
@bp.post("/simulator/api/send")
def send() -> tuple[Response, int] | Response:
    body = request.get_json(silent=True) or {}
    openid, kind = str(body.get("openid") or ""), str(body.get("kind") or "")
    if not OPENID.match(openid):
        return _fail(BAD_OPENID)
    if kind not in KINDS:
        return _fail(BAD_KIND)
    content = str(body.get("content") or body.get("key") or body.get("media_id") or "").strip()
    if kind not in {"subscribe", "unsubscribe"} and not content:
        return _fail(EMPTY)
    if len(content) > MAX_TEXT:
        return _fail(TOO_LONG)

    s = _settings()
    # Over HTTP to our own /wechat: the page exercises signature, decryption, dedup and the handlers
    # exactly as WeChat's servers would.  Safe mode when a key is configured, like a real account in it.
    user = WeChatUser(base_url=request.host_url.rstrip("/"), openid=openid, token=s.wechat_token,
                      app_id=s.wechat_app_id, aes_key=s.wechat_aes_key)
    try:
        reply = _deliver(user, kind, content)
    except requests.RequestException as exc:
        return _fail(UNREACHABLE.format(detail=type(exc).__name__), 502)
    if reply.status != 200:
        return _fail(HTTP_ERROR.format(status=reply.status, body=reply.body[:200]), 502)
    return jsonify({"reply": _passive(reply)})


_last_event_second: dict[str, int] = {}
_last_event_lock = threading.Lock()


def _event_second(openid: str) -> int:
    """A CreateTime no earlier event of this user had, waiting for it if need be.

    Events carry no MsgId, so the gateway drops WeChat's retries by sender + CreateTime + Event; two menu
    clicks in one second would look like a retry and get the first one's reply.  A thumb on a phone is slower
    than that, a click-happy tester (or a browser test) is not.
    """
    with _last_event_lock:
        if len(_last_event_second) > 10_000:  # a dev tool: forget old users rather than grow without bound
            _last_event_second.clear()
        second = max(int(time.time()), _last_event_second.get(openid, 0) + 1)
        _last_event_second[openid] = second
    time.sleep(max(0.0, second - time.time()))
    return second


def _deliver(user: WeChatUser, kind: str, content: str) -> Reply:
    if kind == "text":
        return user.text(content)
    if kind == "voice":
        # The page has no microphone: the typed text stands in for WeChat's speech recognition.
        return user.voice(recognition=content)
    if kind == "image":
        return user.image(content, pic_url=request.host_url.rstrip("/") + _media_url(content))
    when = _event_second(user.openid)
    if kind == "click":
        return user.click(content, create_time=when)
    if kind == "view":
        return user.event("VIEW", content, create_time=when)
    return user.event(kind, create_time=when)


def _passive(reply: Reply) -> dict[str, Any] | None:
    """The passive reply as the page draws it; None when the service answered 'success' (nothing to show)."""
    xml = reply.xml or {}
    kind = xml.get("MsgType")
    if kind is None:
        return None
    if kind == "text":
        return {"type": "text", "text": xml.get("Content") or ""}
    if kind == "image":
        media_id = (xml.get("Image") or {}).get("MediaId", "")
        return {"type": "image", "url": _media_url(media_id)}
    if kind == "news":
        items = ((xml.get("Articles") or {}).get("item")) or []
        items = items if isinstance(items, list) else [items]
        return {"type": "news", "articles": [
            {"title": a.get("Title") or "", "description": a.get("Description") or "", "url": a.get("Url") or ""}
            for a in items
        ]}
    if kind == "transfer_customer_service":
        return {"type": "transfer", "text": TRANSFERRED}
    return {"type": "other", "text": f"[{kind}]"}


# -- photos: stored through the (emulated) media API, as WeChat stores a user's photo -----------------------
@bp.post("/simulator/api/upload")
def upload() -> tuple[Response, int] | Response:
    try:
        photo = request.files.get("photo")
    except RequestEntityTooLarge:
        return _fail(IMAGE_TOO_LARGE, 413)
    if photo is None or photo.mimetype not in IMAGE_TYPES:
        return _fail(NO_IMAGE)
    api = current_app.extensions["szca"]["services"].wechat
    try:
        result = api.media.upload("image", (photo.filename or "photo.jpg", photo.stream, photo.mimetype))
    except WeChatClientException as exc:
        return _fail(UPLOAD_FAILED.format(detail=exc.errcode), 502)
    except requests.RequestException as exc:
        # The emulator shares the app's body limit and answers 400 to a big upload.
        return _fail(UPLOAD_FAILED.format(detail=type(exc).__name__), 502)
    return jsonify({"media_id": result["media_id"], "url": _media_url(result["media_id"])})


@bp.get("/simulator/api/media/<media_id>")
def media(media_id: str) -> Response:
    # The emulator's media/get wants an access token the page must not hold; the API client has one.
    api = current_app.extensions["szca"]["services"].wechat
    try:
        resp = api.media.download(media_id)
    except (WeChatClientException, requests.RequestException):
        abort(404)
    kind = resp.headers.get("Content-Type", "application/octet-stream")
    return Response(resp.content, mimetype=kind, headers={"Cache-Control": "private, max-age=3600"})


# -- pushes: what the service sent through the customer-service and template APIs --------------------------
@bp.get("/simulator/api/pushed")
def pushed() -> tuple[Response, int] | Response:
    openid = request.args.get("openid", "")
    if not OPENID.match(openid):
        return _fail(BAD_OPENID)
    after = request.args.get("after", type=int, default=0)
    try:
        resp = requests.get(request.host_url + "emulator/_outbox", params={"to": openid, "after": after}, timeout=5)
        resp.raise_for_status()
        items = resp.json()
    except (requests.RequestException, ValueError) as exc:
        return _fail(OUTBOX_FAILED.format(detail=type(exc).__name__), 502)
    return jsonify({"messages": [{"id": item["id"], **_pushed(item)} for item in items]})


def _pushed(item: dict[str, Any]) -> dict[str, Any]:
    if item.get("kind") == "template":
        data = item.get("data") or {}
        lines = [str(v.get("value", "")) for v in data.values() if isinstance(v, dict)]
        return {"type": "template", "text": "\n".join(lines), "url": item.get("url") or ""}
    kind = item.get("msgtype")
    if kind == "text":
        return {"type": "text", "text": (item.get("text") or {}).get("content", "")}
    if kind == "image":
        return {"type": "image", "url": _media_url((item.get("image") or {}).get("media_id", ""))}
    if kind == "news":
        articles = (item.get("news") or {}).get("articles") or []
        return {"type": "news", "articles": [
            {"title": a.get("title") or "", "description": a.get("description") or "", "url": a.get("url") or ""}
            for a in articles
        ]}
    return {"type": "other", "text": f"[{kind}]"}
