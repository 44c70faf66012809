"""Who is looking at a mobile page, in production: WeChat OAuth (snsapi_base) inside WeChat's browser.

A signed link names its user; OAuth proves which WeChat user opened it, so a forwarded link shows a clear
page and no data.  In the embedded default (dev credentials) the signed token alone binds the link.
"""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, current_app, redirect, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from wechatpy.exceptions import WeChatException
from wechatpy.oauth import WeChatOAuth

from bot.links import Claims

bp = Blueprint("oauth", __name__)
COOKIE = "szca_viewer"
NEXT_COOKIE = "szca_oauth_next"
COOKIE_TTL_S = 2 * 3600


def _signer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.extensions["szca"]["services"].settings.signing_key,
                                  salt=f"szca-oauth:{purpose}")


def _client(next_url: str) -> WeChatOAuth:
    s = current_app.extensions["szca"]["services"].settings
    client = WeChatOAuth(s.wechat_app_id, s.wechat_app_secret, f"{s.base_url}/m/oauth", scope="snsapi_base",
                         state=next_url)
    client.API_BASE_URL = s.api_base_url.removesuffix("cgi-bin/")
    client.OAUTH_BASE_URL = s.wechat_oauth_url
    return client


def viewer_mismatch(claims: Claims) -> Response | None:
    """None when the viewer may see the page; else a redirect through OAuth, or the refusal."""
    from bot.printables import link_error

    settings = current_app.extensions["szca"]["services"].settings
    if settings.sandbox or "MicroMessenger" not in request.headers.get("User-Agent", ""):
        return None
    try:
        viewer = _signer("viewer").loads(request.cookies.get(COOKIE, ""), max_age=COOKIE_TTL_S)
    except BadSignature:
        viewer = None
    if viewer is None:
        # WeChat allows a state of 128 alphanumerics: a nonce there (against forged callbacks), the way back
        # in a short-lived signed cookie.
        nonce = secrets.token_hex(8)
        resp = redirect(_client(nonce).authorize_url, code=302)
        resp.set_cookie(NEXT_COOKIE, _signer("next").dumps({"state": nonce, "next": request.full_path}), max_age=600,
                        httponly=True, samesite="Lax", secure=request.is_secure)
        return resp
    return None if viewer == claims.openid else link_error("other_user", 403)


@bp.get("/m/oauth")
def callback() -> Response:
    from bot.printables import link_error

    try:
        pending = _signer("next").loads(request.cookies.get(NEXT_COOKIE, ""), max_age=600)
    except BadSignature:
        return link_error("invalid", 403)
    next_url = str(pending.get("next", ""))
    if pending.get("state") != request.args.get("state") or not next_url.startswith("/m/"):
        return link_error("invalid", 403)  # a callback we did not start, or a way out of our pages
    try:
        openid = _client("").fetch_access_token(request.args.get("code", ""))["openid"]
    except (WeChatException, KeyError, ValueError):
        return link_error("invalid", 403)
    resp = redirect(next_url, code=302)
    resp.set_cookie(COOKIE, _signer("viewer").dumps(openid), max_age=COOKIE_TTL_S, httponly=True, samesite="Lax",
                    secure=request.is_secure)
    resp.delete_cookie(NEXT_COOKIE)
    return resp


