"""Face verification (活体认证) of the 经办人 or applicant: Aliyun Cloudauth, or a sandbox page for the embedded default."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from bot.logs import mask
from bot.providers.ocr import SdkLogRedaction, install_sdk_log_redaction
from dialogs.masking import mask_id

if TYPE_CHECKING:
    import redis

    from bot.config import Settings

log = logging.getLogger(__name__)

# What the user is told; kept together so the wording can be reviewed in one place.
UNAVAILABLE_MESSAGE = "人脸认证服务暂时不可用，请稍后再试。"
PASSED_MESSAGE = "人脸认证通过。"
FAILED_MESSAGE = "人脸认证未通过，请确认由本人操作，在光线充足处正对手机重新认证。"
PENDING_MESSAGE = "尚未完成人脸认证，请重新进行认证。"
EXPIRED_MESSAGE = "本次人脸认证已过期，请重新进行认证。"
# ResultObject.SubCode of DescribeFaceVerify (Cloudauth docs, "ResultObject.SubCode错误码说明"); the sandbox
# records the same codes so both providers read alike.
SUBCODE_MESSAGES = {
    "201": "姓名与身份证号码不一致，请核对身份证信息后重新认证。",
    "202": "公安系统中查询不到该身份信息，请联系客服人工审核。",
    "203": "公安系统中查询不到该身份证的照片，请联系客服人工审核。",
    "204": "人脸与身份证照片不一致，请确认由本人操作后重新认证。",
    "205": "未检测到活体，请本人正对手机、按提示完成动作后重新认证。",
    "206": "认证受安全策略限制，请更换手机或稍后再试，也可联系客服处理。",
}
# Body Codes that speak about this person or this certification, not about the service being down.
CODE_MESSAGES = {
    "401": "姓名或身份证号码格式有误，请核对后重新提交。",
    "403": PENDING_MESSAGE,
    "406": EXPIRED_MESSAGE,
    "417": "暂时无法核验该身份信息，请联系客服人工审核。",
    "418": "今天人脸认证失败次数过多，请明天再试。",
    "424": PENDING_MESSAGE,  # not finished, abandoned half-way, or still being processed
}


class LivenessUnavailable(Exception):
    """The check could not be started or read; `user_message` is the Chinese text for the page or chat,
    str(exc) the detail for logs (never a name or an ID number)."""

    user_message = UNAVAILABLE_MESSAGE

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or self.user_message)
        if user_message:
            self.user_message = user_message


class LivenessRefused(LivenessUnavailable):
    """The service answered and will not verify this person now (bad name/number, no comparison source,
    too many attempts today): retrying at once will not help, so the page says why."""


@dataclass(frozen=True)
class LivenessStart:
    certify_id: str
    url: str  # where the browser goes next


@dataclass(frozen=True)
class LivenessResult:
    passed: bool
    code: str  # the provider's SubCode ("200", "204" …), a body Code, or "PENDING"
    message: str  # Chinese, for the user when not passed


class Liveness(Protocol):
    def start(self, *, order_no: str, name: str, id_number: str, meta_info: str,
              return_url: str) -> LivenessStart: ...

    def result(self, certify_id: str) -> LivenessResult: ...


def outcome(passed: bool, code: str) -> LivenessResult:
    """A finished check as the user hears it: any SubCode without its own text gets the general one."""
    if passed:
        return LivenessResult(True, code, PASSED_MESSAGE)
    return LivenessResult(False, code, SUBCODE_MESSAGES.get(code) or CODE_MESSAGES.get(code) or FAILED_MESSAGE)


# --- Aliyun Cloudauth ---------------------------------------------------------------------------------------

API_VERSION = "2019-03-07"
PRODUCT_CODE = "ID_PRO"  # 金融级实人认证, H5: name + number + face against the authority source
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 6
# Cloudauth has regional endpoints in these regions only; elsewhere the global one answers.
REGIONS = {"cn-shanghai", "cn-beijing"}
GLOBAL_ENDPOINT = "cloudauth.aliyuncs.com"
# On SignatureDoesNotMatch the gateway echoes its string-to-sign, which holds every body parameter; the
# name is percent-encoded twice there and the number is preceded by `%3D`, which the ID mask does not expect.
# ReturnUrl carries the signed link of the user's identity page.
_PERSON_IN_TEXT = re.compile(r"(CertNo|CertName|ReturnUrl)(=|%3D|%253D)(?:(?!%26|%2526|&)[^\s'\"])+", re.IGNORECASE)


class SdkPersonRedaction(SdkLogRedaction):
    """The OCR provider's SDK log redaction, plus the person: CertName/CertNo/ReturnUrl values and ID numbers."""

    def redact(self, text: str) -> str:
        text = _PERSON_IN_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}***", super().redact(text))
        return mask(text)


_person_redaction = SdkPersonRedaction()


def install_person_redaction(*secrets_: str) -> SdkPersonRedaction:
    shared = install_sdk_log_redaction(*secrets_)
    _person_redaction.secrets = shared.secrets  # one set of keys for both filters
    for sdk_logger in (logging.getLogger(n) for n in list(logging.root.manager.loggerDict)):
        if shared in sdk_logger.filters and _person_redaction not in sdk_logger.filters:
            sdk_logger.addFilter(_person_redaction)
    return _person_redaction


def _order_no(order_no: str) -> str:
    # OuterOrderNo takes letters and digits only, 32 at most.
    return re.sub(r"[^0-9A-Za-z]", "", order_no)[:32]


class AliyunLiveness:
    """Cloudauth 2019-03-07 InitFaceVerify / DescribeFaceVerify (ProductCode ID_PRO, the H5 flow) through
    aliyun-python-sdk-core. The person's data goes in the signed form body, never in the logged URL."""

    def __init__(self, access_key_id: str, access_key_secret: str, scene_id: int, region: str = "cn-shenzhen",
                 endpoint: str | None = None, connect_timeout: float = CONNECT_TIMEOUT_S,
                 read_timeout: float = READ_TIMEOUT_S, proxy: dict[str, str | None] | None = None) -> None:
        from aliyunsdkcore.client import AcsClient

        self._redaction = install_person_redaction(access_key_id, access_key_secret)
        self.scene_id = scene_id
        self.endpoint = endpoint or (f"cloudauth.{region}.aliyuncs.com" if region in REGIONS else GLOBAL_ENDPOINT)
        # No SDK retries: the user is waiting on a page; a second try after a timeout doubles the wait.
        self._client = AcsClient(access_key_id, access_key_secret, region, auto_retry=False, max_retry_time=0,
                                 connect_timeout=connect_timeout, timeout=read_timeout, proxy=proxy)

    def _call(self, action: str, params: Mapping[str, str]) -> Mapping[str, Any]:
        from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
        from aliyunsdkcore.request import CommonRequest

        request = CommonRequest(domain=self.endpoint, version=API_VERSION, action_name=action)
        request.set_method("POST")
        request.set_protocol_type("https")
        request.set_accept_format("JSON")
        for key, value in params.items():
            request.add_body_params(key, value)
        try:
            body = self._client.do_action_with_exception(request)
        except (ServerException, ClientException) as exc:
            status = f" (HTTP {exc.get_http_status()})" if isinstance(exc, ServerException) else ""
            detail = self._redaction.redact(f"{action}: {exc.get_error_code()}{status} {exc.get_error_msg()}")
            log.warning("Aliyun face verification failed: %s", detail)
            # `from None`: the SDK's exception text may hold the string-to-sign with the key and the person.
            raise LivenessUnavailable(detail) from None
        except IndexError:
            # The SDK's own parser of a SignatureDoesNotMatch message fails on a reply without a ':'.
            raise LivenessUnavailable(f"{action}: unparseable error reply") from None
        try:
            reply = json.loads(body)
        except ValueError:
            reply = None
        if not isinstance(reply, Mapping):
            raise LivenessUnavailable(f"{action}: reply is not a JSON object")
        return reply

    @staticmethod
    def _code(action: str, reply: Mapping[str, Any]) -> str:
        code = str(reply.get("Code", ""))
        if code != "200" and code not in CODE_MESSAGES:
            detail = f"{action}: Code {code} {reply.get('Message', '')} (RequestId {reply.get('RequestId')})"
            log.warning("Aliyun face verification failed: %s", detail)
            raise LivenessUnavailable(detail)
        return code

    def start(self, *, order_no: str, name: str, id_number: str, meta_info: str,
              return_url: str) -> LivenessStart:
        reply = self._call("InitFaceVerify", {
            "SceneId": str(self.scene_id), "OuterOrderNo": _order_no(order_no), "ProductCode": PRODUCT_CODE,
            "CertType": "IDENTITY_CARD", "CertName": name, "CertNo": id_number, "MetaInfo": meta_info,
            "ReturnUrl": return_url})
        code = self._code("InitFaceVerify", reply)
        if code != "200":
            log.info("face verification refused for order %s: Code %s", order_no, code)
            raise LivenessRefused(f"InitFaceVerify: Code {code}", CODE_MESSAGES[code])
        result = reply.get("ResultObject")
        certify_id = result.get("CertifyId") if isinstance(result, Mapping) else None
        url = result.get("CertifyUrl") if isinstance(result, Mapping) else None
        if not certify_id or not url:
            # Documented cause: a MetaInfo that is not the browser's own getMetaInfo() gets no CertifyUrl.
            raise LivenessUnavailable(f"InitFaceVerify: no CertifyId/CertifyUrl (RequestId {reply.get('RequestId')})")
        log.info("face verification %s started for order %s (%s)", certify_id, order_no, mask_id(id_number))
        return LivenessStart(certify_id=str(certify_id), url=str(url))

    def result(self, certify_id: str) -> LivenessResult:
        reply = self._call("DescribeFaceVerify", {"SceneId": str(self.scene_id), "CertifyId": certify_id})
        code = self._code("DescribeFaceVerify", reply)
        if code != "200":
            return LivenessResult(False, code, CODE_MESSAGES[code])
        result = reply.get("ResultObject")
        passed = result.get("Passed") if isinstance(result, Mapping) else None
        if passed not in ("T", "F"):
            raise LivenessUnavailable(f"DescribeFaceVerify: no Passed T/F (RequestId {reply.get('RequestId')})")
        # Passed decides, as the docs say; SubCode only explains a failure.
        sub_code = str(result.get("SubCode") or ("200" if passed == "T" else ""))
        log.info("face verification %s: Passed %s SubCode %s", certify_id, passed, sub_code)
        return outcome(passed == "T", sub_code)


# --- sandbox ------------------------------------------------------------------------------------------------

SANDBOX_TTL_S = 3600
PENDING = "pending"


def sandbox_key(certify_id: str) -> str:
    return f"liveness:{certify_id}"


class SandboxLiveness:
    """The embedded default: a local page with 模拟通过 / 模拟不通过 stands in for the camera. Only the masked
    name and number are stored, for an hour, under an unguessable id that is the page's only credential."""

    def __init__(self, redis_client: redis.Redis, base_url: str) -> None:
        self.redis = redis_client
        self.base_url = base_url.rstrip("/")

    def start(self, *, order_no: str, name: str, id_number: str, meta_info: str,
              return_url: str) -> LivenessStart:
        certify_id = secrets.token_hex(16)  # 32 hex characters, the shape of a Cloudauth CertifyId
        check = {"name": name[:1] + "*" * (len(name) - 1), "id": mask_id(id_number), "order_no": order_no,
                 "return_url": return_url, "status": PENDING, "code": ""}
        self.redis.set(sandbox_key(certify_id), json.dumps(check, ensure_ascii=False), ex=SANDBOX_TTL_S)
        return LivenessStart(certify_id=certify_id, url=f"{self.base_url}/sandbox/liveness/{certify_id}")

    def load(self, certify_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(sandbox_key(certify_id))
        return json.loads(raw) if raw else None

    def decide(self, certify_id: str, passed: bool, code: str) -> dict[str, Any] | None:
        """Record the outcome once, as a CertifyUrl can be used once; returns the check, None if unknown."""
        check = self.load(certify_id)
        if check is None or check["status"] != PENDING:
            return check
        check.update(status="passed" if passed else "failed", code=code)
        self.redis.set(sandbox_key(certify_id), json.dumps(check, ensure_ascii=False), ex=SANDBOX_TTL_S)
        return check

    def result(self, certify_id: str) -> LivenessResult:
        check = self.load(certify_id)
        if check is None:
            return LivenessResult(False, "406", EXPIRED_MESSAGE)
        if check["status"] == PENDING:
            return LivenessResult(False, "PENDING", PENDING_MESSAGE)
        return outcome(check["status"] == "passed", check["code"])


def make_liveness(settings: Settings, redis_client: redis.Redis) -> Liveness:
    """Aliyun when its credentials and the console's scene id are set, else the sandbox (the embedded default)."""
    if settings.aliyun_access_key_id and settings.aliyun_access_key_secret and settings.aliyun_face_scene_id:
        return AliyunLiveness(settings.aliyun_access_key_id, settings.aliyun_access_key_secret,
                              settings.aliyun_face_scene_id, settings.aliyun_region,
                              endpoint=settings.aliyun_cloudauth_endpoint,
                              connect_timeout=settings.aliyun_connect_timeout_s,
                              read_timeout=settings.aliyun_cloudauth_timeout_s)
    return SandboxLiveness(redis_client, settings.base_url)


__all__ = ["Liveness", "LivenessStart", "LivenessResult", "LivenessUnavailable", "LivenessRefused",
           "AliyunLiveness", "SandboxLiveness", "make_liveness", "outcome", "sandbox_key", "SUBCODE_MESSAGES",
           "CODE_MESSAGES"]
