"""AliyunOcr through the real SDK against a local fake of ocr-api that checks the RPC signature."""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Iterator

import pytest

from bot.config import Settings
from bot.providers.ocr import (AliyunOcr, LocalOcr, OcrUnavailable, OcrUnreadable, install_sdk_log_redaction,
                               make_ocr)
from tests.support.fake_aliyun import FakeRpcApi, assert_gives_up_fast, log_everything
from tests.support.servers import free_port

AK_ID = "LTAI5tFakeKeyId0123456789"
AK_SECRET = "fake-secret-0123456789abcdef"
IMAGE = b"\xff\xd8\xff\xe0 a photo \x00\x01\x02"
NO_PROXY = {"http": None, "https": None}

LICENCE_DATA = {
    "data": {"creditCode": "91440300MA5FXXXX0Q", "companyName": "深圳市星河科技有限公司",
             "companyType": "有限责任公司", "businessAddress": "深圳市南山区粤海街道科技南十二路18号",
             "legalPerson": "陈平", "registeredCapital": "壹佰万元整", "RegistrationDate": "2017年01月04日",
             "validPeriod": "2017年01月04日至长期", "validFromDate": "20170104", "validToDate": "29991231"},
    "ftype": 0, "height": 1000, "width": 1500, "orgHeight": 1000, "orgWidth": 1500,
    "prism_keyValueInfo": [
        {"key": "creditCode", "keyProb": 100, "value": "91440300MA5FXXXX0Q", "valueProb": 98},
        {"key": "companyName", "keyProb": 100, "value": "深圳市星河科技有限公司", "valueProb": 100},
        {"key": "legalPerson", "keyProb": 100, "value": "陈平", "valueProb": 87},
    ],
}
FACE_DATA = {"data": {"face": {
    "data": {"name": "张三", "sex": "男", "ethnicity": "汉", "birthDate": "1990年1月1日",
             "address": "广东省深圳市南山区科技南十二路18号", "idNumber": "440305199001011238"},
    "prism_keyValueInfo": [{"key": "name", "keyProb": 100, "value": "张三", "valueProb": 99},
                           {"key": "idNumber", "keyProb": 100, "value": "440305199001011238", "valueProb": 100}],
}}}
BACK_DATA = {"data": {"back": {"data": {"issueAuthority": "深圳市公安局南山分局", "validPeriod": "2016.05.27-2036.05.27"}}}}


class FakeOcrApi(FakeRpcApi):
    """ocr-api 2021-07-07 as seen by an RPC client: signed query string, image in the body, `Data` a JSON string."""

    version = "2021-07-07"

    def __init__(self, secrets: dict[str, str]) -> None:
        super().__init__(secrets)
        self.replies: dict[str, Any] = {"RecognizeBusinessLicense": LICENCE_DATA, "RecognizeIdcard": FACE_DATA}

    def actions(self) -> set[str]:
        return set(self.replies)

    def answer_action(self, params: dict[str, str], body: bytes, request_id: str) -> tuple[int, dict[str, Any]]:
        if not body:
            return 400, {"RequestId": request_id, "Code": "paramsError", "Message": "Url or body is required"}
        reply = self.replies[params["Action"]]
        # Data is a string of JSON inside the JSON reply; a str here stands for a broken one.
        data = reply if isinstance(reply, str) else json.dumps(reply, ensure_ascii=False)
        return 200, {"RequestId": request_id, "Data": data}


@pytest.fixture
def fake() -> Iterator[FakeOcrApi]:
    with FakeOcrApi({AK_ID: AK_SECRET}) as server:
        yield server


def client(fake: FakeOcrApi, secret: str = AK_SECRET, **options: Any) -> AliyunOcr:
    return AliyunOcr(AK_ID, secret, "cn-shenzhen", endpoint=fake.url, proxy=NO_PROXY, **options)


def test_licence_is_read_from_a_signed_request_with_the_image_as_body(fake: FakeOcrApi) -> None:
    fields = client(fake).licence(IMAGE)

    assert (fields.name, fields.uscc, fields.address, fields.legal_person) == (
        "深圳市星河科技有限公司", "91440300MA5FXXXX0Q", "深圳市南山区粤海街道科技南十二路18号", "陈平")
    # valueProb where the service gives one, else its structured field is trusted.
    assert fields.confidence == {"name": 1.0, "uscc": 0.98, "address": 1.0, "legal_person": 0.87}
    sent = fake.requests[-1]
    assert sent["body"] == IMAGE
    assert sent["headers"]["Content-Type"] == "application/octet-stream"
    assert sent["params"]["Action"] == "RecognizeBusinessLicense"
    assert sent["params"]["Version"] == "2021-07-07"


def test_id_card_front_and_back(fake: FakeOcrApi) -> None:
    ocr = client(fake)
    front = ocr.id_front(IMAGE)
    assert (front.name, front.id_number, front.sex, front.birth) == ("张三", "440305199001011238", "男",
                                                                     date(1990, 1, 1))
    assert front.confidence["name"] == 0.99

    fake.replies["RecognizeIdcard"] = BACK_DATA
    back = ocr.id_back(IMAGE)
    assert (back.issuer, back.valid_from, back.valid_to, back.long_term) == (
        "深圳市公安局南山分局", date(2016, 5, 27), date(2036, 5, 27), False)

    fake.replies["RecognizeIdcard"] = {"data": {"back": {"data": {"issueAuthority": "深圳市公安局福田分局",
                                                                  "validPeriod": "2010.07.21-长期"}}}}
    back = ocr.id_back(IMAGE)
    assert (back.valid_from, back.valid_to, back.long_term) == (date(2010, 7, 21), None, True)


def test_the_wrong_side_of_the_card_is_unreadable_not_unavailable(fake: FakeOcrApi) -> None:
    fake.replies["RecognizeIdcard"] = BACK_DATA
    with pytest.raises(OcrUnreadable) as caught:
        client(fake).id_front(IMAGE)
    assert "照片" in caught.value.user_message


def test_a_reply_with_empty_fields_is_unreadable(fake: FakeOcrApi) -> None:
    fake.replies["RecognizeBusinessLicense"] = {"data": {"companyName": "", "creditCode": ""}}
    with pytest.raises(OcrUnreadable):
        client(fake).licence(IMAGE)


@pytest.mark.parametrize("data", ["{not json", json.dumps(["a list"]), json.dumps({"nodata": 1})])
def test_malformed_data_is_the_service_failing(fake: FakeOcrApi, data: str) -> None:
    # Decision: a Data string we cannot parse is not the photo's fault, so the user is not asked for a new photo.
    fake.replies["RecognizeBusinessLicense"] = data
    with pytest.raises(OcrUnavailable):
        client(fake).licence(IMAGE)


def test_a_bad_signature_is_unavailable_and_the_fake_really_checks_it(fake: FakeOcrApi) -> None:
    with pytest.raises(OcrUnavailable) as caught:
        client(fake, secret="not-the-secret").licence(IMAGE)
    assert fake.requests[-1]["params"]["AccessKeyId"] == AK_ID
    assert "SignatureDoesNotMatch" in str(caught.value)
    assert AK_ID not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "输入" in caught.value.user_message


@pytest.mark.parametrize("status,code", [(400, "Throttling.User"), (503, "ServiceUnavailable"),
                                         (403, "noPermission")])
def test_throttling_and_server_errors_are_unavailable_without_retries(fake: FakeOcrApi, status: int,
                                                                      code: str) -> None:
    fake.error = (status, code, "Request was denied due to user flow control.")
    with pytest.raises(OcrUnavailable) as caught:
        client(fake).id_front(IMAGE)
    assert code in str(caught.value)
    assert len(fake.requests) == 1


def test_a_slow_service_is_unavailable_within_the_read_timeout(fake: FakeOcrApi) -> None:
    assert_gives_up_fast(fake, lambda: client(fake, read_timeout=0.5).licence(IMAGE), OcrUnavailable)


def test_an_unreachable_endpoint_is_unavailable() -> None:
    ocr = AliyunOcr(AK_ID, AK_SECRET, endpoint=f"http://127.0.0.1:{free_port()}", proxy=NO_PROXY)
    with pytest.raises(OcrUnavailable) as caught:
        ocr.licence(IMAGE)
    assert AK_ID not in str(caught.value)


def test_the_access_key_id_never_reaches_the_logs(fake: FakeOcrApi, caplog: pytest.LogCaptureFixture,
                                                  capfd: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    log_everything(monkeypatch, caplog, "bot.providers.ocr")
    client(fake).licence(IMAGE)
    with pytest.raises(OcrUnavailable):
        client(fake, secret="wrong").licence(IMAGE)
    fake.error = (400, "Throttling.User", "Request was denied due to user flow control.")
    with pytest.raises(OcrUnavailable):
        client(fake).licence(IMAGE)
    with pytest.raises(OcrUnavailable):
        AliyunOcr(AK_ID, AK_SECRET, endpoint=f"http://127.0.0.1:{free_port()}", proxy=NO_PROXY).licence(IMAGE)

    out, err = capfd.readouterr()
    assert "AccessKeyId" in caplog.text + err  # the SDK did log its URLs and string-to-sign ...
    for leaked in (AK_ID, AK_SECRET, "wrong&"):
        assert leaked not in caplog.text  # ... with the key masked
        assert leaked not in out + err


def test_redaction_masks_encoded_keys_too() -> None:
    redaction = install_sdk_log_redaction()
    text = ("GET /?AccessKeyId=ABC&Signature=x%2By POST&%2F&AccessKeyId%3DABC%26Action "
            "AccessKeyId%253DABC%2526")
    assert "ABC" not in redaction.redact(text)
    assert "x%2By" not in redaction.redact(text)


def test_make_ocr_chooses_by_credentials(fake: FakeOcrApi) -> None:
    assert isinstance(make_ocr(Settings()), LocalOcr)
    assert isinstance(make_ocr(Settings(aliyun_access_key_id=AK_ID)), LocalOcr)
    chosen = make_ocr(Settings(aliyun_access_key_id=AK_ID, aliyun_access_key_secret=AK_SECRET,
                               aliyun_ocr_endpoint=fake.url))
    assert isinstance(chosen, AliyunOcr) and chosen.endpoint == fake.url
    assert make_ocr(Settings(aliyun_access_key_id=AK_ID, aliyun_access_key_secret=AK_SECRET,
                             aliyun_region="cn-hangzhou")).endpoint == "ocr-api.cn-hangzhou.aliyuncs.com"
