"""The forms an applicant prints: the filled application form (or 授权委托书) and the seal collection form,
served as PDFs behind signed links bound to the user and the application; the blank seal template is public."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template

from bot import forms
from bot.links import LinkError, Links
from bot.records import ApplicationRecord
from dialogs import Application

bp = Blueprint("printables", __name__, template_folder="templates")

LINK_TEXT = {
    "expired": ("链接已过期", "为保护您的信息，打印链接7天内有效。请在公众号回复“我的申请”获取新的链接。"),
    "invalid": ("链接无效", "链接不完整或已被修改，无法打开。请使用公众号里发给您的原始链接。"),
    "missing": ("找不到这份申请", "这份申请不存在或已按保存期限删除。"),
    "other_user": ("这个链接属于另一位用户", "为保护申请人信息，链接只能由收到它的微信用户本人打开。"),
}


def links() -> Links:
    return current_app.extensions["szca"]["services"].links


def link_error(reason: str, status: int) -> Response:
    title, message = LINK_TEXT[reason]
    return Response(render_template("link_error.html", title=title, message=message), status=status,
                    mimetype="text/html")


def claimed_record(kind: str, token: str) -> ApplicationRecord | Response:
    """The record a link names, only if the link is genuine, unexpired and the record belongs to its user."""
    try:
        claims = links().read(kind, token)
    except LinkError as exc:
        return link_error(exc.reason, 410 if exc.reason == "expired" else 403)
    if kind in ("identity", "pay"):
        from bot.oauth import viewer_mismatch

        refused = viewer_mismatch(claims)
        if refused is not None:
            return refused
    record = current_app.extensions["szca"]["services"].store.record(claims.number)
    if record is None:
        return link_error("missing", 404)
    if record.openid != claims.openid:
        return link_error("invalid", 403)
    return record


def _pdf(data: bytes, filename: str) -> Response:
    resp = Response(data, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    # Personal data: never cached by a shared proxy or kept by the browser.
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/forms/application/<token>")
def application_form(token: str) -> Response:
    record = claimed_record("form", token)
    if isinstance(record, Response):
        return record
    app = Application.model_validate(record.data)
    return _pdf(forms.application_form(app, record.number, record.created_at.date()), f"{record.number}.pdf")


@bp.get("/forms/seal/<token>")
def seal_form(token: str) -> Response:
    record = claimed_record("seal", token)
    if isinstance(record, Response):
        return record
    app = Application.model_validate(record.data)
    return _pdf(forms.seal_form(app, record.number), f"{record.number}-seal.pdf")


@bp.get("/forms/seal-template.pdf")
def seal_template() -> Response:
    resp = _pdf(forms.seal_form(None, None), "seal-template.pdf")
    resp.headers["Cache-Control"] = "public, max-age=86400"
    return resp


def form_links(openid: str, record: ApplicationRecord, base: Links) -> dict[str, str]:
    return {
        "form": base.url("form", openid, record.number, "/forms/application"),
        "seal": base.url("seal", openid, record.number, "/forms/seal"),
    }


