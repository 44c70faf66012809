"""A WeChat server stand-in on the sending side: builds signed callback XML (plain or safe mode) for one
user and posts it over HTTP.  Used by the simulator page, `szca-bot chat`, the tests and the benchmark."""

from __future__ import annotations

import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto

from bot.wechat import sign

_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(openid: str, to: str, msg_type: str, fields: dict[str, Any], create_time: int | None = None) -> str:
    parts = [
        f"<ToUserName>{_cdata(to)}</ToUserName>",
        f"<FromUserName>{_cdata(openid)}</FromUserName>",
        f"<CreateTime>{create_time or int(time.time())}</CreateTime>",
        f"<MsgType>{_cdata(msg_type)}</MsgType>",
    ]
    for name, value in fields.items():
        parts.append(f"<{name}>{value if isinstance(value, int) else _cdata(str(value))}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


@dataclass
class Reply:
    status: int
    body: str
    xml: dict[str, Any] | None = None

    @property
    def text(self) -> str | None:
        return (self.xml or {}).get("Content")

    @property
    def msg_type(self) -> str | None:
        return (self.xml or {}).get("MsgType")


@dataclass
class WeChatUser:
    base_url: str
    openid: str = field(default_factory=lambda: "o" + secrets.token_urlsafe(20))
    token: str = "dev-token"
    aes_key: str | None = None
    app_id: str = "wxdev0000000000000"
    account: str = "gh_szca6688"
    http: requests.Session = field(default_factory=requests.Session)
    timeout: float = 10.0

    # -- messages -------------------------------------------------------------------------------------
    def text(self, content: str, **kw: Any) -> Reply:
        return self.send("text", {"Content": content, "MsgId": next(_msg_ids)}, **kw)

    def image(self, media_id: str, pic_url: str = "http://mmbiz.qpic.cn/sim.jpg", **kw: Any) -> Reply:
        return self.send("image", {"PicUrl": pic_url, "MediaId": media_id, "MsgId": next(_msg_ids)}, **kw)

    def voice(self, recognition: str | None = None, **kw: Any) -> Reply:
        fields: dict[str, Any] = {"MediaId": "voice-media", "Format": "amr", "MsgId": next(_msg_ids)}
        if recognition is not None:
            fields["Recognition"] = recognition
        return self.send("voice", fields, **kw)

    def event(self, event: str, key: str | None = None, **kw: Any) -> Reply:
        fields: dict[str, Any] = {"Event": event}
        if key is not None:
            fields["EventKey"] = key
        return self.send("event", fields, **kw)

    def click(self, key: str, **kw: Any) -> Reply:
        return self.event("CLICK", key, **kw)

    # -- the protocol ---------------------------------------------------------------------------------
    def send(self, msg_type: str, fields: dict[str, Any], *, create_time: int | None = None,
             encrypt: bool | None = None, nonce: str | None = None, timestamp: int | None = None) -> Reply:
        xml = message_xml(self.openid, self.account, msg_type, fields, create_time)
        return self.post_xml(xml, encrypt=encrypt, nonce=nonce, timestamp=timestamp)

    def signed_query(self, nonce: str | None = None, timestamp: int | None = None) -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        nonce = nonce or secrets.token_hex(8)
        return {"signature": sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "openid": self.openid}

    def post_xml(self, xml: str, *, encrypt: bool | None = None, nonce: str | None = None,
                 timestamp: int | None = None, query: dict[str, str] | None = None) -> Reply:
        encrypt = bool(self.aes_key) if encrypt is None else encrypt
        params, body = self.envelope(xml, encrypt=encrypt, query=query or self.signed_query(nonce, timestamp))
        resp = self.http.post(f"{self.base_url}/wechat", params=params, data=body,
                              headers={"Content-Type": "text/xml"}, timeout=self.timeout)
        return self._reply(resp, encrypt, params)

    def envelope(self, xml: str, *, encrypt: bool, query: dict[str, str]) -> tuple[dict[str, str], bytes]:
        """The query string and body WeChat would POST for this message (safe mode: encrypted and signed)."""
        if not encrypt:
            return query, xml.encode("utf-8")
        crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
        envelope = xmltodict.parse(crypto.encrypt_message(xml, query["nonce"], query["timestamp"]))["xml"]
        params = {**query, "encrypt_type": "aes", "msg_signature": envelope["MsgSignature"]}
        body = f"<xml><ToUserName>{_cdata(self.account)}</ToUserName><Encrypt>{_cdata(envelope['Encrypt'])}</Encrypt></xml>"
        return params, body.encode("utf-8")

    def _reply(self, resp: requests.Response, encrypted: bool, params: dict[str, str]) -> Reply:
        body = resp.text
        if resp.status_code != 200 or body in ("", "success"):
            return Reply(resp.status_code, body)
        if encrypted:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            envelope = xmltodict.parse(body)["xml"]
            body = crypto.decrypt_message(body, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        return Reply(resp.status_code, body, xmltodict.parse(body)["xml"])

    def pushed(self, after: int = 0) -> list[dict[str, Any]]:
        """Messages the service pushed to this user through the (emulated) customer-service API."""
        resp = self.http.get(f"{self.base_url}/emulator/_outbox", params={"to": self.openid, "after": after}, timeout=self.timeout)
        resp.raise_for_status()
        return resp.json()


