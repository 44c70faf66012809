"""The ceiling of this stack: a bare wechatpy echo app on Flask (verify, parse, reply; nothing else).

The load benchmark serves it with the same gunicorn settings as the assistant, so the ratio between the two
is the price of everything the assistant does per message (Redis, the dialogue, the FAQ, logging)."""

from __future__ import annotations

import os

from flask import Flask, Response, request
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature


def create_echo_app() -> Flask:
    token = os.environ.get("WECHAT_TOKEN", "dev-token")
    aes_key = os.environ.get("WECHAT_AES_KEY")
    app_id = os.environ.get("WECHAT_APP_ID", "wxdev0000000000000")
    crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
    app = Flask(__name__)

    @app.post("/wechat")
    def callback() -> Response:
        args = request.args
        body = request.get_data()
        try:
            if args.get("encrypt_type") == "aes" and crypto is not None:
                body = crypto.decrypt_message(body, args["msg_signature"], args["timestamp"], args["nonce"])
            else:
                check_signature(token, args["signature"], args["timestamp"], args["nonce"])
        except (InvalidSignatureException, KeyError):
            return Response("forbidden", status=403)
        message = parse_message(body)
        xml = TextReply(content=getattr(message, "content", "") or "ok", message=message).render()
        if args.get("encrypt_type") == "aes" and crypto is not None:
            xml = crypto.encrypt_message(xml, args["nonce"], args["timestamp"])
        return Response(xml, mimetype="application/xml")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app
