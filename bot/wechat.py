"""The WeChat callback protocol: signatures, the timestamp window, safe-mode AES, hostile XML, reply rendering."""

from __future__ import annotations

import hashlib
import struct
import time
from dataclasses import dataclass
from typing import Any, Mapping

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import ArticlesReply, ImageReply, TextReply, TransferCustomerServiceReply

from bot.config import Settings
from bot.replies import Image, News, Reply, Text, Transfer


class CallbackError(Exception):
    """A callback we refuse; `status` is the HTTP answer, `reason` goes to the log only."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Inbound:
    message: Any  # a wechatpy message or event
    openid: str
    dedup_id: str
    nonce: str
    timestamp: str
    encrypted: bool

    @property
    def kind(self) -> str:
        event = getattr(self.message, "event", None)
        return f"event:{event}" if self.message.type == "event" else self.message.type


def sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted([token, *parts])).encode()).hexdigest()


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.crypto = (
            WeChatCrypto(settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id)
            if settings.wechat_aes_key
            else None
        )

    # -- checks shared by GET and POST -------------------------------------------------------------------
    def _check_query(self, args: Mapping[str, str], now: float | None = None) -> tuple[str, str]:
        signature, timestamp, nonce = args.get("signature", ""), args.get("timestamp", ""), args.get("nonce", "")
        if not (signature and timestamp and nonce) or len(nonce) > 64 or len(timestamp) > 12:
            raise CallbackError(403, "missing or oversized signature parameters")
        if sign(self.settings.wechat_token, timestamp, nonce) != signature:
            raise CallbackError(403, "bad signature")
        try:
            ts = int(timestamp)
        except ValueError:
            raise CallbackError(403, "timestamp is not a number") from None
        if abs((now or time.time()) - ts) > self.settings.timestamp_window_s:
            raise CallbackError(403, "timestamp outside the window")
        return timestamp, nonce

    def verify_url(self, args: Mapping[str, str]) -> str:
        self._check_query(args)
        echostr = args.get("echostr", "")
        if not echostr:
            raise CallbackError(400, "no echostr")
        return echostr

    # -- POST ---------------------------------------------------------------------------------------------
    def parse(self, args: Mapping[str, str], body: bytes) -> Inbound:
        timestamp, nonce = self._check_query(args)
        if len(body) > self.settings.max_body_bytes:
            raise CallbackError(400, "body too large")
        xml = safe_xml(body)
        encrypted = args.get("encrypt_type", "raw").lower() == "aes"
        if encrypted:
            if self.crypto is None:
                raise CallbackError(400, "safe mode message but no EncodingAESKey configured")
            try:
                xml = self.crypto.decrypt_message(xml, args.get("msg_signature", ""), timestamp, nonce)
            except (InvalidSignatureException, InvalidAppIdException):
                raise CallbackError(403, "bad msg_signature or appid") from None
            except (ValueError, LookupError, TypeError, UnicodeError, struct.error) as exc:
                # wechatpy lets IndexError / struct.error out of a ciphertext that is too short or malformed.
                raise CallbackError(400, f"undecryptable payload ({type(exc).__name__})") from None
            xml = safe_xml(xml.encode("utf-8") if isinstance(xml, str) else xml)
        try:
            message = parse_message(xml)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CallbackError(400, f"unparseable message ({type(exc).__name__})") from None
        openid = getattr(message, "source", None)
        if not openid or not getattr(message, "type", None) or len(openid) > 64:
            raise CallbackError(400, "message without sender or type")
        raw = getattr(message, "_data", {})
        if raw.get("MsgId"):
            dedup_id = str(raw["MsgId"])[:32]
        else:
            # Events carry no MsgId: sender (the key's hash tag) + CreateTime + Event, plus EventKey so two
            # different menu clicks in the same second are not mistaken for a retry.
            dedup_id = f"{raw.get('CreateTime', '')}:{raw.get('Event', message.type)}:{raw.get('EventKey') or ''}"[:96]
        return Inbound(message, openid, dedup_id, nonce, timestamp, encrypted)

    # -- replies ------------------------------------------------------------------------------------------
    def render(self, reply: Reply, inbound: Inbound) -> str:
        msg = inbound.message
        if isinstance(reply, Text):
            return TextReply(message=msg, content=reply.content).render()
        if isinstance(reply, Image):
            return ImageReply(message=msg, media_id=reply.media_id).render()
        if isinstance(reply, News):
            out = ArticlesReply(message=msg)
            for a in reply.articles[:8]:
                out.add_article({"title": a.title, "description": a.description, "url": a.url, "image": a.image})
            return out.render()
        if isinstance(reply, Transfer):
            xml = TransferCustomerServiceReply(message=msg).render()
            if reply.kf_account:
                trans = f"<TransInfo><KfAccount><![CDATA[{reply.kf_account}]]></KfAccount></TransInfo></xml>"
                xml = xml.rsplit("</xml>", 1)[0] + trans
            return xml
        raise TypeError(f"cannot render {reply!r}")

    def wrap(self, xml: str, inbound: Inbound) -> str:
        """Encrypt the reply when the message came in safe mode; 'success' is never encrypted."""
        if not inbound.encrypted or xml == "success" or self.crypto is None:
            return xml
        return self.crypto.encrypt_message(xml, inbound.nonce, str(int(time.time())))


def safe_xml(body: bytes) -> str:
    """Refuse DOCTYPEs, entities and anything that is not well-formed UTF-8 XML before wechatpy sees it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise CallbackError(400, "body is not UTF-8") from None
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise CallbackError(400, "XML with a DOCTYPE or entities") from None
    except (ParseError, ValueError):
        raise CallbackError(400, "malformed XML") from None
    if root.tag != "xml":
        raise CallbackError(400, "root element is not <xml>")
    return text
