"""The staff console at /staff: one page for a team without a review system of its own. It holds no data and
no session; the page keeps the staff token in the tab and calls the back-office JSON API, which does the auth."""

from __future__ import annotations

import secrets

from flask import Blueprint, Response, make_response, render_template

from bot.lifecycle import TRANSITIONS
from bot.records import STATUS_TEXT

bp = Blueprint("staff_console", __name__, template_folder="templates")


@bp.get("/staff")
def console() -> Response:
    nonce = secrets.token_urlsafe(16)
    moves = {status: sorted(targets) for status, targets in TRANSITIONS.items()}
    resp = make_response(render_template("staff_console.html", statuses=STATUS_TEXT, moves=moves, nonce=nonce))
    # The token lives in this tab's sessionStorage: only our own script may run, and no other site may frame us.
    resp.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; connect-src 'self'; "
        "img-src 'self' blob:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Cache-Control"] = "no-store"
    return resp
