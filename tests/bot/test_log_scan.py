"""After a whole application — form, OCR photos, documents, identity, payment, staff review — neither the
service's log nor the job worker's holds a full ID number, mobile or bank account."""

from __future__ import annotations

import logging
import re

import requests

from bot.logs import MaskingFormatter
from tests.bot.test_backoffice_http import _act
from tests.bot.test_payment_http import _jpeg, _pay_in_sandbox, at_payment_step
from tests.conftest import upload_media, wait_for
from tests.dialogs.conftest import TYPICAL


def test_logs_hold_no_full_identifiers_after_a_whole_application(live, redis_client, worker, caplog):
    caplog.set_level(logging.DEBUG)
    user, number = at_payment_step(live, redis_client)
    user.text(f"{TYPICAL['handler.name']} {TYPICAL['handler.id']} {TYPICAL['handler.mobile']}")  # typed again, as people do
    user.image(upload_media(live.url, _jpeg(3)))
    _pay_in_sandbox(live, user)
    _act(live, number, "financial-auth", passed=True)
    _act(live, number, "approve")
    wait_for(lambda: any("审核通过" in m.get("text", {}).get("content", "") for m in user.pushed()))
    requests.get(f"{live.url}/api/v1/applications/{number}", headers={"Authorization": "Bearer nope"})

    formatter = MaskingFormatter("%(name)s %(message)s")
    service_log = "\n".join(formatter.format(r) for r in caplog.records)
    worker_log = worker.log_text()
    account = re.sub(r"\D", "", TYPICAL["finance.account"])
    for secret in (TYPICAL["handler.id"], TYPICAL["legal.id"], TYPICAL["handler.mobile"], TYPICAL["legal.mobile"],
                   account, TYPICAL["finance.account"]):
        assert secret not in service_log, secret
        assert secret not in worker_log, secret
    assert "push_replies" in worker_log  # the worker did log its jobs, only without their contents
