"""Plain pages every deployment serves: the agreement texts linked from the consent step, and a health check."""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, render_template

bp = Blueprint("pages", __name__, template_folder="templates")


@lru_cache(maxsize=1)
def agreements() -> dict[str, dict[str, str]]:
    return tomllib.loads(Path(__file__).with_name("agreements.toml").read_text("utf-8"))


@bp.get("/agreements/<name>")
def agreement(name: str) -> str:
    text = agreements().get(name)
    if text is None:
        abort(404)
    return render_template("agreement.html", **text)


@bp.get("/healthz")
def healthz() -> Response:
    svc = current_app.extensions["szca"]["services"]
    ok = svc.store.ping()
    return jsonify({"ok": ok, "redis": "embedded" if svc.settings.embedded_redis else "external"}), 200 if ok else 503
