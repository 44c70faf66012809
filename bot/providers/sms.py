"""SMS notices: Aliyun Dysmsapi SendSms, or a local outbox in Redis for the embedded default and the tests."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from bot.providers.liveness import install_person_redaction
from dialogs.masking import mask_mobile

if TYPE_CHECKING:
    import redis

    from bot.config import Settings

log = logging.getLogger(__name__)

API_VERSION = "2017-05-25"
ENDPOINT = "dysmsapi.aliyuncs.com"
# A notice is not worth a long wait: the job queue retries a transient failure with back-off.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 5
# Per-number and per-account flow control: retrying in seconds only burns the quota further.
THROTTLE_CODES = frozenset({"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"})
LOCAL_OUTBOX = "sms:outbox"
LOCAL_OUTBOX_MAX = 1000


class SmsError(Exception):
    """An SMS that was not sent; str(exc) is for logs (never the full number)."""

    code = ""

    def __init__(self, detail: str = "", code: str = "") -> None:
        super().__init__(detail)
        self.code = code or self.code


class SmsThrottled(SmsError):
    """Aliyun's flow control refused this number or account now; it will not pass on an immediate retry."""


class SmsFailed(SmsError):
    """Aliyun answered and will not send this message (bad number, template, signature…)."""


class SmsUnavailable(SmsError):
    """The gateway could not be reached or failed on its side: worth retrying later."""


class Sms(Protocol):
    def send(self, mobile: str, template_code: str, params: Mapping[str, str]) -> str: ...


class AliyunSms:
    """Dysmsapi 2017-05-25 SendSms through aliyun-python-sdk-core; the number goes in the signed form body."""

    def __init__(self, access_key_id: str, access_key_secret: str, sign_name: str, region: str = "cn-shenzhen",
                 endpoint: str | None = None, connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, proxy: dict[str, str | None] | None = None) -> None:
        from aliyunsdkcore.client import AcsClient

        # The face check's SDK log filter: the keys, and every mobile (PhoneNumbers echoed by the gateway) masked.
        self._redaction = install_person_redaction(access_key_id, access_key_secret)
        self.sign_name = sign_name
        self.endpoint = endpoint or ENDPOINT
        # No SDK retries: the job queue retries with back-off, and a blind resend may send the SMS twice.
        self._client = AcsClient(access_key_id, access_key_secret, region, auto_retry=False, max_retry_time=0,
                                 connect_timeout=connect_timeout, timeout=read_timeout, proxy=proxy)

    def send(self, mobile: str, template_code: str, params: Mapping[str, str]) -> str:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self.endpoint, version=API_VERSION, action_name="SendSms")
        request.set_method("POST")
        request.set_protocol_type("https")
        request.set_accept_format("JSON")
        for key, value in {"PhoneNumbers": mobile, "SignName": self.sign_name, "TemplateCode": template_code,
                           "TemplateParam": json.dumps(dict(params), ensure_ascii=False)}.items():
            request.add_body_params(key, value)
        who = mask_mobile(mobile)
        try:
            body = self._client.do_action_with_exception(request)
        except ServerException as exc:
            code = str(exc.get_error_code())
            detail = self._redaction.redact(f"SendSms to {who}: {code} (HTTP {exc.get_http_status()}) "
                                            f"{exc.get_error_msg()}")
            log.warning("Aliyun SMS failed: %s", detail)
            # `from None`: the SDK's exception text may hold the string-to-sign with the key and the number.
            if code in THROTTLE_CODES or code.startswith("Throttling"):
                raise SmsThrottled(detail, code) from None
            if (exc.get_http_status() or 500) >= 500 or code in ("ServiceUnavailable", "InternalError"):
                raise SmsUnavailable(detail, code) from None
            raise SmsFailed(detail, code) from None
        except ClientException as exc:
            detail = self._redaction.redact(f"SendSms to {who}: {exc.get_error_code()} {exc.get_error_msg()}")
            log.warning("Aliyun SMS unreachable: %s", detail)
            raise SmsUnavailable(detail, str(exc.get_error_code())) from None
        except IndexError:
            # The SDK's own parser of a SignatureDoesNotMatch message fails on a reply without a ':'.
            raise SmsFailed("SendSms: unparseable error reply", "Unparseable") from None
        return self._biz_id(who, body)

    @staticmethod
    def _biz_id(who: str, body: bytes) -> str:
        try:
            reply: Any = json.loads(body)
        except ValueError:
            reply = None
        if not isinstance(reply, Mapping):
            raise SmsUnavailable("SendSms: reply is not a JSON object", "BadReply")
        code = str(reply.get("Code", ""))
        if code == "OK":
            log.info("SMS sent to %s (BizId %s)", who, reply.get("BizId"))
            return str(reply.get("BizId", ""))
        detail = f"SendSms to {who}: Code {code} {reply.get('Message', '')} (RequestId {reply.get('RequestId')})"
        log.warning("Aliyun SMS refused: %s", detail)
        if code in THROTTLE_CODES or code.startswith("Throttling"):
            raise SmsThrottled(detail, code)
        raise SmsFailed(detail, code)


class LocalSms:
    """The embedded default's stand-in, like the WeChat emulator: messages are kept in a Redis list, rendered
    with the texts of the notification kinds, for the simulator and the tests to read."""

    def __init__(self, redis_client: redis.Redis, sign_name: str, render: Any = None) -> None:
        self.redis = redis_client
        self.sign_name = sign_name
        self.render = render  # (template_code, params) -> text; the notifier passes its own

    def send(self, mobile: str, template_code: str, params: Mapping[str, str]) -> str:
        biz_id = f"local-{secrets.token_hex(8)}"
        text = self.render(template_code, params) if self.render else ""
        entry = {"biz_id": biz_id, "mobile": mobile, "sign_name": self.sign_name, "template_code": template_code,
                 "params": dict(params), "text": text, "at": time.time()}
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(LOCAL_OUTBOX, json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(LOCAL_OUTBOX, -LOCAL_OUTBOX_MAX, -1)
        pipe.execute()
        log.info("SMS kept in the local outbox for %s (%s)", mask_mobile(mobile), template_code)
        return biz_id


def make_sms(settings: Settings, redis_client: redis.Redis, render: Any = None) -> Sms:
    """Aliyun when its credentials and a sign name are set, else the local outbox (the embedded default)."""
    if settings.aliyun_access_key_id and settings.aliyun_access_key_secret and settings.aliyun_sms_sign_name:
        return AliyunSms(settings.aliyun_access_key_id, settings.aliyun_access_key_secret,
                         settings.aliyun_sms_sign_name, settings.aliyun_region,
                         endpoint=settings.aliyun_sms_endpoint, connect_timeout=settings.aliyun_connect_timeout_s,
                         read_timeout=settings.aliyun_sms_timeout_s)
    return LocalSms(redis_client, settings.aliyun_sms_sign_name or "深圳CA", render)


__all__ = ["Sms", "SmsError", "SmsThrottled", "SmsFailed", "SmsUnavailable", "AliyunSms", "LocalSms", "make_sms",
           "LOCAL_OUTBOX"]
