"""Signed, expiring links bound to one user and one application (forms to print, and the mobile pages)."""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

# How long each kind of link works. A printed form is needed for days; an identity or payment page is not.
TTL_S = {"form": 7 * 24 * 3600, "seal": 7 * 24 * 3600, "identity": 2 * 3600, "pay": 2 * 3600}


class LinkError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "expired" | "invalid"


@dataclass(frozen=True)
class Claims:
    kind: str
    openid: str
    number: str


class Links:
    def __init__(self, secret: str, base_url: str) -> None:
        self._secret = secret
        self.base_url = base_url.rstrip("/")

    def _serializer(self, kind: str) -> URLSafeTimedSerializer:
        # One salt per kind: a form link can never be replayed as a payment link.
        return URLSafeTimedSerializer(self._secret, salt=f"szca-link:{kind}")

    def token(self, kind: str, openid: str, number: str) -> str:
        return self._serializer(kind).dumps({"o": openid, "n": number})

    def url(self, kind: str, openid: str, number: str, path: str) -> str:
        return f"{self.base_url}{path}/{self.token(kind, openid, number)}"

    def read(self, kind: str, token: str) -> Claims:
        if len(token) > 512:
            raise LinkError("invalid")
        try:
            data = self._serializer(kind).loads(token, max_age=TTL_S[kind])
        except SignatureExpired:
            raise LinkError("expired") from None
        except BadSignature:
            raise LinkError("invalid") from None
        if not isinstance(data, dict) or not isinstance(data.get("o"), str) or not isinstance(data.get("n"), str):
            raise LinkError("invalid")
        return Claims(kind, data["o"], data["n"])
