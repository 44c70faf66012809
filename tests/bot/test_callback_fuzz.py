"""A fuzz run over POST /wechat: random and mutated XML, wrong encodings, broken AES payloads, forged
signatures. Whatever arrives, the answer is never a 500, and nothing is stored for a refused request."""

from __future__ import annotations

import base64

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.simclient import WeChatUser, message_xml
from bot.wechat import sign
from tests.conftest import AES_KEY

VALID = message_xml("o-fuzz-target", "gh", "text", {"Content": "帮助", "MsgId": 1})
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _mutate(data: bytes, draw_ops: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in draw_ops:
        if out:
            out[pos % len(out)] = value
    return bytes(out)


@FUZZ
@given(body=st.binary(max_size=2048))
def test_random_bytes_never_500(live, body):
    user = WeChatUser(live.url)
    resp = requests.post(f"{live.url}/wechat", params=user.signed_query(), data=body, timeout=10)
    assert resp.status_code in (200, 400, 403)


@FUZZ
@given(ops=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=12),
       encoding=st.sampled_from(["utf-8", "gbk", "utf-16", "latin-1"]))
def test_mutated_messages_never_500_and_refusals_store_nothing(live, redis_client, ops, encoding):
    user = WeChatUser(live.url, openid="o-fuzz-target")
    try:
        raw = VALID.encode(encoding)
    except UnicodeEncodeError:
        raw = VALID.encode("utf-8")
    before = sorted(redis_client.scan_iter("conv:{o-fuzz-target}*"))
    resp = requests.post(f"{live.url}/wechat", params=user.signed_query(), data=_mutate(raw, ops), timeout=10)
    assert resp.status_code in (200, 400, 403)
    if resp.status_code != 200:
        assert sorted(redis_client.scan_iter("conv:{o-fuzz-target}*")) == before


@FUZZ
@given(payload=st.binary(max_size=512), forge=st.booleans())
def test_broken_aes_payloads_and_forged_signatures_never_500(live, payload, forge):
    user = WeChatUser(live.url, aes_key=AES_KEY)
    q = user.signed_query()
    encrypt = base64.b64encode(payload).decode()
    msg_signature = "0" * 40 if forge else sign(user.token, q["timestamp"], q["nonce"], encrypt)
    body = f"<xml><ToUserName><![CDATA[gh]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    resp = requests.post(f"{live.url}/wechat", params={**q, "encrypt_type": "aes", "msg_signature": msg_signature},
                         data=body.encode(), timeout=10)
    assert resp.status_code in (400, 403)
    assert "Traceback" not in resp.text


@FUZZ
@given(signature=st.text(max_size=60), timestamp=st.text(max_size=20), nonce=st.text(max_size=80))
def test_forged_query_parameters_are_refused(live, signature, timestamp, nonce):
    resp = requests.post(f"{live.url}/wechat", params={"signature": signature, "timestamp": timestamp, "nonce": nonce},
                         data=VALID.encode(), timeout=10)
    assert resp.status_code == 403
