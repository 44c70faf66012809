"""The Flask app factory: the WeChat callback, and in the embedded default the emulator and simulator."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime

import redis
from flask import Blueprint, Flask, Response, current_app, request

import handlers
from bot import jobs, logs, messages
from bot import services as services_mod
from bot.config import Settings, load_settings
from bot.replies import Text, passive_ok
from bot.store import Busy, hash_openid
from bot.wechat import CallbackError, Gateway, Inbound

log = logging.getLogger("bot.callback")

wechat_bp = Blueprint("wechat", __name__)


def create_app(settings: Settings | None = None, *, start_jobs: bool | None = None) -> Flask:
    settings = settings or load_settings()
    logs.setup(settings.log_level)
    settings.signing_key  # noqa: B018 - with real credentials and no SECRET_KEY, refuse to start, not at the first link
    app = Flask(__name__)
    # Uploads (media, mobile pages) may be up to the hall's 2 MB plus form overhead; /wechat enforces its own
    # 64 KiB limit while reading the body.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    svc = services_mod.install(services_mod.build(settings))
    app.extensions["szca"] = {
        "services": svc,
        "gateway": Gateway(settings),
        # Handlers run here so the request thread can give up at the deadline and still answer WeChat.
        "executor": ThreadPoolExecutor(max_workers=16, thread_name_prefix="turn"),
    }
    app.register_blueprint(wechat_bp)

    from bot import backoffice, mobile, oauth, pages, printables

    app.register_blueprint(pages.bp)
    app.register_blueprint(printables.bp)
    app.register_blueprint(mobile.bp)
    app.register_blueprint(oauth.bp)
    app.register_blueprint(backoffice.bp)
    from bot import staff_console
    app.register_blueprint(staff_console.bp)
    if settings.sandbox:
        from bot import emulator, sandbox_liveness, sandbox_pay, simulator

        app.register_blueprint(emulator.bp, url_prefix="/emulator")
        app.register_blueprint(simulator.bp)
        app.register_blueprint(sandbox_liveness.bp)
        app.register_blueprint(sandbox_pay.bp)
    if start_jobs if start_jobs is not None else settings.embedded_redis:
        jobs.start_embedded_worker(svc)

    @app.errorhandler(413)
    def too_large(_: Exception) -> Response:
        return Response("request body too large", status=400, mimetype="text/plain")

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        from werkzeug.exceptions import HTTPException

        if isinstance(exc, HTTPException):
            return Response(exc.description or exc.name, status=exc.code or 500, mimetype="text/plain")
        log.exception("unhandled error on %s", request.path)
        return Response("internal error", status=500, mimetype="text/plain")

    return app


def _ext() -> dict:
    return current_app.extensions["szca"]


@wechat_bp.get("/wechat")
def verify() -> Response:
    try:
        return Response(_ext()["gateway"].verify_url(request.args), mimetype="text/plain")
    except CallbackError as exc:
        log.info("verification refused: %s", exc.reason)
        return Response("forbidden", status=exc.status, mimetype="text/plain")


@wechat_bp.post("/wechat")
def callback() -> Response:
    started = time.monotonic()
    ext = _ext()
    gateway: Gateway = ext["gateway"]
    svc: services_mod.Services = ext["services"]
    if (request.content_length or 0) > svc.settings.max_body_bytes:
        log.info("callback refused (400): body too large")
        return Response("bad request", status=400, mimetype="text/plain")
    body = request.stream.read(svc.settings.max_body_bytes + 1)
    try:
        inbound = gateway.parse(request.args, body)
    except CallbackError as exc:
        log.info("callback refused (%s): %s", exc.status, exc.reason)
        return Response("bad request" if exc.status == 400 else "forbidden", status=exc.status, mimetype="text/plain")

    deadline = started + svc.settings.reply_deadline_s
    future = ext["executor"].submit(_turn, svc, gateway, inbound, deadline)
    handler, outcome = "-", "ok"
    try:
        status, xml, handler = future.result(timeout=max(0.1, deadline - time.monotonic()))
        if status != 200:
            outcome = "replay"
            return Response("forbidden", status=status, mimetype="text/plain")
    except FutureTimeout:
        outcome, xml = "timeout", gateway.render(Text(messages.APOLOGY), inbound)
    except (redis.RedisError, Busy, TooLate) as exc:
        outcome, xml = f"unavailable:{type(exc).__name__}", gateway.render(Text(messages.APOLOGY), inbound)
    except Exception:
        log.exception("handler failed for %s", inbound.kind)
        outcome, xml = "error", gateway.render(Text(messages.APOLOGY), inbound)
    finally:
        log.info(
            "msg user=%s type=%s handler=%s outcome=%s latency_ms=%.1f",
            hash_openid(inbound.openid), inbound.kind, handler, outcome, (time.monotonic() - started) * 1000,
        )
    return Response(gateway.wrap(xml, inbound), mimetype="application/xml" if xml != "success" else "text/plain")


class TooLate(Exception):
    """The request was answered with the apology at the deadline: this turn's work must not be applied."""


def _turn(svc: services_mod.Services, gateway: Gateway, inbound: Inbound, deadline: float) -> tuple[int, str, str]:
    """Admission with the user's lock and state, the handler, and the turn's commit: two Redis round trips.

    Past the deadline the user has been told to send the message again (the apology), so a turn that only
    starts then (queued behind turns stuck on a hung Redis) does nothing, and one that overran is not
    committed: otherwise the message would count although its reply said it did not."""
    if time.monotonic() >= deadline:
        return 200, "success", "late"
    admission = svc.store.admit(inbound.nonce, inbound.openid, inbound.dedup_id, lock=True)
    if not admission.nonce_fresh:
        return 403, "", "-"
    if not admission.first_time:
        return 200, admission.cached_reply or "success", "retry"
    if admission.flooding:
        # One user's flood costs one round trip per message and never reaches a handler or the user's lock,
        # so it can't slow anyone else down. Only the first message over the limit in a window is answered.
        over = svc.store.redis.incr(f"rate-note:{{{inbound.openid}}}")
        svc.store.redis.expire(f"rate-note:{{{inbound.openid}}}", svc.settings.rate_limit_window_s)
        return 200, gateway.render(Text(messages.TOO_FAST), inbound) if over == 1 else "success", "rate-limited"
    turn = svc.store.turn(inbound.openid, inbound.dedup_id, admission)
    ctx = handlers.Context(openid=inbound.openid, turn=turn, services=svc, now=datetime.now())
    try:
        name, replies = handlers.dispatch(inbound.message, ctx)
        passive = replies[0] if replies and passive_ok(replies[0]) else None
        rest = replies[1:] if passive is not None else replies
        if time.monotonic() >= deadline:
            raise TooLate(inbound.kind)
        jobs.enqueue_push(svc.queue, inbound.openid, rest, key=inbound.dedup_id.replace(":", "-"))
        xml = gateway.render(passive, inbound) if passive is not None else "success"
    except BaseException:
        turn.abandon()
        raise
    turn.finish(xml)
    return 200, xml, name
