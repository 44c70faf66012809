"""The official-account API through wechatpy: access token shared in Redis, base URL from settings,
exactly one refresh-and-retry on token errors."""

from __future__ import annotations

import logging
from typing import Any

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

log = logging.getLogger(__name__)

# 40001 invalid credential, 40014 invalid access_token, 42001 access_token expired
TOKEN_ERRORS = frozenset({40001, 40014, 42001})


class _BoundedSession(requests.Session):
    """wechatpy passes its timeout to API calls but not to the token fetch, which could then hang a worker."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(*args, **kwargs)


class ApiClient(WeChatClient):
    """wechatpy's client with four production fixes: its token URL is hard-coded to WeChat's host, its token
    fetch has no timeout, its auto-retry recurses without bound, and N worker processes would all refresh the
    token at once."""

    def __init__(self, appid: str, secret: str, base_url: str, client: redis.Redis, timeout: float = 3.0) -> None:
        super().__init__(appid, secret, session=RedisStorage(client, prefix="wechat"), timeout=timeout, auto_retry=False)
        self.API_BASE_URL = base_url
        self._http = _BoundedSession(timeout)
        self._redis = client

    def fetch_access_token(self) -> dict[str, Any]:
        stale = self.session.get(self.access_token_key)
        with self._redis.lock("wechat:token-refresh", timeout=10, blocking_timeout=5):
            current = self.session.get(self.access_token_key)
            if current and current != stale:
                # Another process refreshed while we waited for the lock.
                return {"access_token": current}
            return self._fetch_access_token(
                url=f"{self.API_BASE_URL}token",
                params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
            )

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        params = dict(kwargs.get("params") or {})
        try:
            return super()._request(method, url_or_endpoint, **{**kwargs, "params": dict(params)})
        except WeChatClientException as exc:
            if exc.errcode not in TOKEN_ERRORS or "access_token" in params:
                raise
            log.info("WeChat answered token error %s; refreshing the token once", exc.errcode)
            self.session.delete(self.access_token_key)
            self.expires_at = None
            self.fetch_access_token()
            return super()._request(method, url_or_endpoint, **{**kwargs, "params": dict(params)})


MAX_MEDIA_BYTES = 10 * 1024 * 1024  # WeChat's own ceiling for an image message


class MediaError(Exception):
    """A media download that produced no usable file (expired MediaId, oversize)."""


def download_media(api: ApiClient, media_id: str) -> bytes:
    """A user's photo through the media API. WeChat answers errors as JSON with HTTP 200, so a JSON body
    is an error (wechatpy raises for errcode != 0) and anything else is the file."""
    res = api.media.download(media_id)
    if isinstance(res, dict):
        raise MediaError(f"media/get answered JSON without a file (errcode {res.get('errcode')})")
    data = res.content
    if len(data) > MAX_MEDIA_BYTES:
        raise MediaError("media larger than WeChat allows")
    return data
