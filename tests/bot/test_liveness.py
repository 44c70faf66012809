"""Face verification: AliyunLiveness through the real SDK against a local fake of Cloudauth that checks the RPC
signature, and the sandbox provider with its page on a minimal Flask app over the real Redis."""

from __future__ import annotations

import json
import secrets
from types import SimpleNamespace
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
from flask import Flask
from flask.testing import FlaskClient

from bot import sandbox_liveness
from bot.config import Settings
from bot.providers.liveness import (FAILED_MESSAGE, PENDING_MESSAGE, AliyunLiveness, LivenessRefused,
                                    LivenessUnavailable, SandboxLiveness, make_liveness, sandbox_key)
from tests.support.fake_aliyun import FakeRpcApi, assert_gives_up_fast, log_everything, percent
from tests.support.servers import free_port

AK_ID = "LTAI5tFakeCloudauthKey0123"
AK_SECRET = "fake-cloudauth-secret-0123456789"
SCENE_ID = 1000000006
NAME = "张三丰"
ID_NUMBER = "440305199001011238"
META_INFO = json.dumps({"zimVer": "3.0.0", "appVersion": "1", "bioMetaInfo": "4.1.0:1150,0", "deviceType": "h5",
                        "ua": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0"})
RETURN_URL = "https://szca.example.com/m/identity/tok.en-123/done"
NO_PROXY = {"http": None, "https": None}
REQUIRED = ("SceneId", "OuterOrderNo", "ProductCode", "CertType", "CertName", "CertNo", "MetaInfo")


class FakeCloudauth(FakeRpcApi):
    """Cloudauth 2019-03-07 as an RPC client sees it: business results in the body's Code, HTTP 200."""

    version = "2019-03-07"

    def __init__(self, secrets_: dict[str, str]) -> None:
        super().__init__(secrets_)
        self.outcomes: dict[str, tuple[str, str]] = {}  # CertifyId -> (Passed, SubCode); absent = not finished
        self.body_code: tuple[str, str] | None = None  # (Code, Message) answered in an HTTP 200 body
        self.without_url = False

    def actions(self) -> set[str]:
        return {"InitFaceVerify", "DescribeFaceVerify"}

    def answer_action(self, params: dict[str, str], body: bytes, request_id: str) -> tuple[int, dict[str, Any]]:
        if self.body_code:
            code, message = self.body_code
            return 200, {"RequestId": request_id, "Code": code, "Message": message}
        if params["Action"] == "InitFaceVerify":
            if any(not params.get(name) for name in REQUIRED) or params["ProductCode"] != "ID_PRO":
                return 200, {"RequestId": request_id, "Code": "400", "Message": "参数不能为空"}
            certify_id = secrets.token_hex(16)
            url = f"https://picker.antcloudauth.aliyuncs.com/gateway.do?certifyId={certify_id}"
            result = {"CertifyId": certify_id} if self.without_url else {"CertifyId": certify_id, "CertifyUrl": url}
            return 200, {"RequestId": request_id, "Code": "200", "Message": "success", "ResultObject": result}
        outcome = self.outcomes.get(params.get("CertifyId", ""))
        if outcome is None:
            return 200, {"RequestId": request_id, "Code": "424", "Message": "身份认证记录不存在"}
        passed, sub_code = outcome
        return 200, {"RequestId": request_id, "Code": "200", "Message": "success",
                     "ResultObject": {"Passed": passed, "SubCode": sub_code, "IdentityInfo": None,
                                      "DeviceToken": "McozS1ZWRcRZStlERcZZo", "MaterialInfo": "{}"}}


@pytest.fixture
def fake() -> Iterator[FakeCloudauth]:
    with FakeCloudauth({AK_ID: AK_SECRET}) as server:
        yield server


def client(fake: FakeCloudauth, secret: str = AK_SECRET, **options: Any) -> AliyunLiveness:
    return AliyunLiveness(AK_ID, secret, SCENE_ID, "cn-shenzhen", endpoint=fake.url, proxy=NO_PROXY, **options)


def start(liveness: AliyunLiveness | SandboxLiveness, return_url: str = RETURN_URL) -> Any:
    return liveness.start(order_no="SZ20261124-0007-1", name=NAME, id_number=ID_NUMBER, meta_info=META_INFO,
                          return_url=return_url)


# --- Aliyun -------------------------------------------------------------------------------------------------

def test_start_sends_id_pro_with_the_browsers_meta_info_in_the_signed_body(fake: FakeCloudauth) -> None:
    started = start(client(fake))

    sent = fake.requests[-1]
    assert sent["params"]["Action"] == "InitFaceVerify" and sent["params"]["Version"] == "2019-03-07"
    assert sent["form"] == {"SceneId": str(SCENE_ID), "OuterOrderNo": "SZ2026112400071", "ProductCode": "ID_PRO",
                            "CertType": "IDENTITY_CARD", "CertName": NAME, "CertNo": ID_NUMBER,
                            "MetaInfo": META_INFO, "ReturnUrl": RETURN_URL}
    # The person stays out of the query string, which the SDK logs.
    assert not {"CertName", "CertNo", "MetaInfo"} & set(sent["params"])
    assert started.url == f"https://picker.antcloudauth.aliyuncs.com/gateway.do?certifyId={started.certify_id}"


def test_a_passed_check(fake: FakeCloudauth) -> None:
    liveness = client(fake)
    started = start(liveness)
    fake.outcomes[started.certify_id] = ("T", "200")

    result = liveness.result(started.certify_id)

    assert (result.passed, result.code) == (True, "200")
    assert fake.requests[-1]["form"] == {"SceneId": str(SCENE_ID), "CertifyId": started.certify_id}


@pytest.mark.parametrize("sub_code,words", [("204", "人脸与身份证照片不一致"), ("205", "未检测到活体"),
                                            ("201", "姓名与身份证号码不一致"), ("202", "人工审核"),
                                            ("299", FAILED_MESSAGE)])
def test_a_failed_check_tells_the_reason(fake: FakeCloudauth, sub_code: str, words: str) -> None:
    liveness = client(fake)
    started = start(liveness)
    fake.outcomes[started.certify_id] = ("F", sub_code)

    result = liveness.result(started.certify_id)

    assert (result.passed, result.code) == (False, sub_code)
    assert words in result.message


def test_passed_decides_not_the_sub_code(fake: FakeCloudauth) -> None:
    liveness = client(fake)
    started = start(liveness)
    fake.outcomes[started.certify_id] = ("F", "200")
    assert not liveness.result(started.certify_id).passed


def test_an_unfinished_check_is_not_passed_and_not_an_outage(fake: FakeCloudauth) -> None:
    result = client(fake).result(start(client(fake)).certify_id)
    assert (result.passed, result.code, result.message) == (False, "424", PENDING_MESSAGE)


@pytest.mark.parametrize("code", ["500", "412", "404", "411"])
def test_a_body_code_other_than_200_is_unavailable(fake: FakeCloudauth, code: str) -> None:
    fake.body_code = (code, "系统错误")
    with pytest.raises(LivenessUnavailable) as caught:
        start(client(fake))
    assert not isinstance(caught.value, LivenessRefused)
    assert f"Code {code}" in str(caught.value)
    assert caught.value.user_message.startswith("人脸认证服务暂时不可用")
    with pytest.raises(LivenessUnavailable):
        client(fake).result("91707dc296d469ad38e4c5efa6a0beef")


@pytest.mark.parametrize("code,words", [("418", "明天"), ("417", "人工审核"), ("401", "格式有误")])
def test_a_refusal_for_this_person_says_why(fake: FakeCloudauth, code: str, words: str) -> None:
    fake.body_code = (code, "刷脸失败次数过多")
    with pytest.raises(LivenessRefused) as caught:
        start(client(fake))
    assert words in caught.value.user_message


def test_no_certify_url_is_unavailable(fake: FakeCloudauth) -> None:
    # What Cloudauth does with a MetaInfo that is not a real browser's.
    fake.without_url = True
    with pytest.raises(LivenessUnavailable):
        start(client(fake))


def test_a_bad_signature_is_unavailable_and_the_fake_really_checks_it(fake: FakeCloudauth) -> None:
    with pytest.raises(LivenessUnavailable) as caught:
        start(client(fake, secret="not-the-secret"))
    assert "SignatureDoesNotMatch" in str(caught.value)
    for leaked in (AK_ID, ID_NUMBER, NAME, percent(percent(NAME))):
        assert leaked not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("status,code", [(400, "Throttling.User"), (503, "ServiceUnavailable")])
def test_gateway_errors_are_unavailable_without_retries(fake: FakeCloudauth, status: int, code: str) -> None:
    fake.error = (status, code, "Request was denied due to user flow control.")
    liveness = client(fake)
    for call in (lambda: start(liveness), lambda: liveness.result("91707dc296d469ad38e4c5efa6a0beef")):
        with pytest.raises(LivenessUnavailable, match=code):
            call()
    assert len(fake.requests) == 2


def test_a_slow_service_is_unavailable_fast(fake: FakeCloudauth) -> None:
    assert_gives_up_fast(fake, lambda: start(client(fake, read_timeout=0.5)), LivenessUnavailable)


def test_an_unreachable_endpoint_is_unavailable() -> None:
    liveness = AliyunLiveness(AK_ID, AK_SECRET, SCENE_ID, endpoint=f"http://127.0.0.1:{free_port()}", proxy=NO_PROXY)
    with pytest.raises(LivenessUnavailable):
        start(liveness)


def test_neither_the_key_nor_the_person_reaches_the_logs(fake: FakeCloudauth, caplog: pytest.LogCaptureFixture,
                                                         capfd: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    log_everything(monkeypatch, caplog, "bot.providers.liveness")
    liveness = client(fake)
    started = start(liveness)
    fake.outcomes[started.certify_id] = ("F", "204")
    liveness.result(started.certify_id)
    # The gateway echoes its string-to-sign, with every body parameter, on a signature mismatch.
    with pytest.raises(LivenessUnavailable):
        start(client(fake, secret="wrong"))
    fake.error = (400, "Throttling.User", "Request was denied due to user flow control.")
    with pytest.raises(LivenessUnavailable):
        start(liveness)

    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "CertNo" in logged and "AccessKeyId" in logged  # the SDK did log the echo ...
    for leaked in (AK_ID, AK_SECRET, "wrong&", ID_NUMBER, NAME, percent(percent(NAME)), "tok.en-123"):
        assert leaked not in logged  # ... masked


def test_make_liveness_needs_credentials_and_a_scene(fake: FakeCloudauth, redis_client: redis_lib.Redis) -> None:
    assert isinstance(make_liveness(Settings(), redis_client), SandboxLiveness)
    keys = {"aliyun_access_key_id": AK_ID, "aliyun_access_key_secret": AK_SECRET}
    assert isinstance(make_liveness(Settings(**keys), redis_client), SandboxLiveness)
    chosen = make_liveness(Settings(**keys, aliyun_face_scene_id=SCENE_ID, aliyun_cloudauth_endpoint=fake.url),
                           redis_client)
    assert isinstance(chosen, AliyunLiveness) and chosen.endpoint == fake.url
    # Cloudauth has no Shenzhen endpoint: the global one serves the default region.
    assert make_liveness(Settings(**keys, aliyun_face_scene_id=SCENE_ID), redis_client).endpoint == \
        "cloudauth.aliyuncs.com"
    assert make_liveness(Settings(**keys, aliyun_face_scene_id=SCENE_ID, aliyun_region="cn-shanghai"),
                         redis_client).endpoint == "cloudauth.cn-shanghai.aliyuncs.com"


# --- sandbox ------------------------------------------------------------------------------------------------

def sandbox_client(redis_client: redis_lib.Redis, **settings: Any) -> FlaskClient:
    app = Flask(__name__)
    app.register_blueprint(sandbox_liveness.bp)
    app.extensions["szca"] = {"services": SimpleNamespace(settings=Settings(**settings), redis=redis_client)}
    return app.test_client()


@pytest.fixture
def sandbox(redis_client: redis_lib.Redis) -> SandboxLiveness:
    return SandboxLiveness(redis_client, Settings().base_url)


def test_sandbox_pass_returns_to_the_return_url_like_aliyun(sandbox: SandboxLiveness,
                                                           redis_client: redis_lib.Redis) -> None:
    started = start(sandbox, return_url=RETURN_URL + "?from=chat")
    web = sandbox_client(redis_client)
    assert started.url == f"{Settings().base_url}/sandbox/liveness/{started.certify_id}"
    assert len(started.certify_id) == 32
    assert 0 < redis_client.ttl(sandbox_key(started.certify_id)) <= 3600
    assert ID_NUMBER.encode() not in redis_client.get(sandbox_key(started.certify_id))

    page = web.get(urlsplit(started.url).path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "模拟活体检测（开发环境）" in html and "模拟通过" in html and "模拟不通过" in html
    assert "张**" in html and NAME not in html and ID_NUMBER not in html
    assert sandbox.result(started.certify_id).code == "PENDING"

    done = web.post(urlsplit(started.url).path, data={"outcome": "pass"})

    assert done.status_code == 303
    back = urlsplit(done.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == RETURN_URL
    query = parse_qs(back.query)
    assert query["from"] == ["chat"] and query["certify_id"] == [started.certify_id]
    response = json.loads(query["response"][0])
    assert response["code"] == "1000" and response["extInfo"]["certifyId"] == started.certify_id
    result = sandbox.result(started.certify_id)
    assert (result.passed, result.code) == (True, "200")


@pytest.mark.parametrize("reason,words", [("204", "人脸与身份证照片不一致"), ("205", "未检测到活体")])
def test_sandbox_fail_with_a_reason(sandbox: SandboxLiveness, redis_client: redis_lib.Redis, reason: str,
                                   words: str) -> None:
    started = start(sandbox)
    web = sandbox_client(redis_client)
    path = urlsplit(started.url).path

    done = web.post(path, data={"outcome": "fail", "reason": reason})

    assert done.status_code == 303
    assert json.loads(parse_qs(urlsplit(done.headers["Location"]).query)["response"][0])["code"] == "2006"
    result = sandbox.result(started.certify_id)
    assert (result.passed, result.code) == (False, reason) and words in result.message
    # Like a used CertifyUrl: a second submit does not turn a failure into a pass.
    web.post(path, data={"outcome": "pass"})
    assert not sandbox.result(started.certify_id).passed


def test_sandbox_rejects_a_bad_choice(sandbox: SandboxLiveness, redis_client: redis_lib.Redis) -> None:
    started = start(sandbox)
    answer = sandbox_client(redis_client).post(urlsplit(started.url).path, data={"outcome": "fail", "reason": "x"})
    assert answer.status_code == 400 and "请选择" in answer.get_data(as_text=True)
    assert sandbox.result(started.certify_id).code == "PENDING"


@pytest.mark.parametrize("certify_id", [secrets.token_hex(16), "not-an-id", "0" * 200])
def test_sandbox_unknown_or_expired_id_is_a_clear_404(redis_client: redis_lib.Redis, certify_id: str) -> None:
    web = sandbox_client(redis_client)
    for answer in (web.get(f"/sandbox/liveness/{certify_id}"),
                   web.post(f"/sandbox/liveness/{certify_id}", data={"outcome": "pass"})):
        assert answer.status_code == 404
        assert "已过期" in answer.get_data(as_text=True)


def test_sandbox_result_of_an_expired_check(sandbox: SandboxLiveness) -> None:
    result = sandbox.result(secrets.token_hex(16))
    assert not result.passed and "过期" in result.message


def test_sandbox_page_is_not_served_with_real_credentials(sandbox: SandboxLiveness,
                                                          redis_client: redis_lib.Redis) -> None:
    started = start(sandbox)
    web = sandbox_client(redis_client, wechat_app_secret="a-real-secret")
    assert web.get(urlsplit(started.url).path).status_code == 404
    assert web.post(urlsplit(started.url).path, data={"outcome": "pass"}).status_code == 404
    assert sandbox.result(started.certify_id).code == "PENDING"
