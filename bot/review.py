"""What SZCA staff do to an application — approve, reject, confirm a transfer, decide financial authentication,
ship, refund, set the random code — each a lifecycle move with its history and the user's notification.
The JSON API and `szca-bot review` both call these, so a shell and the review system behave the same."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from bot import lifecycle, verification
from bot.records import ApplicationRecord
from bot.services import Services

AUDIT_LOG = "audit"
AUDIT_MAX = 10_000


class ReviewError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Outcome:
    record: ApplicationRecord
    notification: str | None  # the kind the user is told about, if any


def _need(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise ReviewError(400, f"'{key}' is required (text, at most 500 characters)")
    return value.strip()


def _move(svc: Services, number: str, target: str, staff: str, note: str,
          also: Callable[[ApplicationRecord], None] | None = None) -> ApplicationRecord:
    if svc.store.record(number) is None:
        raise ReviewError(404, f"no application {number}")
    try:
        return lifecycle.move(svc.store, number, target, by=f"staff:{staff}", note=note, now=datetime.now(),
                              retention_days=svc.settings.retention_days, also=also)
    except lifecycle.IllegalTransition as exc:
        raise ReviewError(409, f"cannot go from {exc.current} to {exc.target}") from None


def approve(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    return Outcome(_move(svc, number, "approved", staff, str(body.get("note") or "审核通过")), "approved")


def reject(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    reason = _need(body, "reason")
    fields = body.get("fix_fields") or []
    docs = body.get("fix_documents") or []
    if not isinstance(fields, list) or not isinstance(docs, list) or not all(isinstance(x, str) for x in fields + docs):
        raise ReviewError(400, "'fix_fields' and 'fix_documents' are lists of names")

    def mark(record: ApplicationRecord) -> None:
        record.data["rejection"] = {"reason": reason, "fields": fields, "documents": docs,
                                    "at": datetime.now().isoformat(timespec="seconds")}
        for doc in docs:  # the named documents must be sent again
            record.uploads.pop(doc, None)

    return Outcome(_move(svc, number, "rejected", staff, reason, mark), "rejected")


def confirm_transfer(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    record = svc.store.record(number)
    if record is None:
        raise ReviewError(404, f"no application {number}")
    if (record.data.get("payment") or {}).get("method") != "transfer":
        raise ReviewError(409, "this application is not paid by corporate transfer")

    def paid(r: ApplicationRecord) -> None:
        r.data["payment"] = {**(r.data.get("payment") or {}), "confirmed_by": staff,
                             "confirmed_at": datetime.now().isoformat(timespec="seconds")}

    return Outcome(_move(svc, number, "review", staff, str(body.get("note") or "公对公转账已到账"), paid), None)


def financial_auth(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    passed = body.get("passed")
    if not isinstance(passed, bool):
        raise ReviewError(400, "'passed' must be true or false")
    if passed:
        return Outcome(_move(svc, number, "review", staff, "金融认证通过"), None)
    reason = _need(body, "reason")
    return Outcome(_move(svc, number, "financial_auth_failed", staff, reason), "financial_auth_failed")


def ship(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    carrier, tracking = _need(body, "carrier"), _need(body, "tracking")

    def shipment(record: ApplicationRecord) -> None:
        record.data["shipment"] = {"carrier": carrier, "tracking": tracking,
                                   "at": datetime.now().isoformat(timespec="seconds")}

    return Outcome(_move(svc, number, "shipped", staff, f"{carrier} {tracking}", shipment), "shipped")


def refund(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    return Outcome(_move(svc, number, "refunded", staff, _need(body, "reason")), None)


def set_code(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    """Finance sent the 0.01 transfer: record its random code (kept hashed) for the user to type."""
    code = _need(body, "code")
    if not code.isdigit() or not 4 <= len(code) <= 8:
        raise ReviewError(400, "'code' is 4 to 8 digits")
    record = svc.store.record(number)
    if record is None:
        raise ReviewError(404, f"no application {number}")
    if record.status != "code":
        raise ReviewError(409, f"application is {record.status}, not waiting for a code")
    verification.set_code(svc.store, number, code)
    return Outcome(svc.store.record(number), None)  # type: ignore[arg-type]


def invoice(svc: Services, number: str, staff: str, body: dict[str, Any]) -> Outcome:
    """The e-invoice is issued: keep its link and tell the applicant (no lifecycle move)."""
    url = _need(body, "url")
    if not url.startswith(("https://", "http://")):
        raise ReviewError(400, "'url' must be an http(s) link")
    if svc.store.record(number) is None:
        raise ReviewError(404, f"no application {number}")

    def keep(record: ApplicationRecord) -> None:
        record.data["invoice_url"] = url

    return Outcome(svc.store.update_record(number, keep), "invoice_ready")


ACTIONS: dict[str, Callable[[Services, str, str, dict[str, Any]], Outcome]] = {
    "approve": approve, "reject": reject, "confirm-transfer": confirm_transfer, "financial-auth": financial_auth,
    "ship": ship, "refund": refund, "code": set_code, "invoice": invoice,
}


def audit(svc: Services, staff: str, action: str, number: str | None, outcome: str, source: str) -> None:
    entry = {"at": datetime.now().isoformat(timespec="seconds"), "staff": staff, "action": action,
             "application": number, "outcome": outcome, "source": source}
    pipe = svc.redis.pipeline(transaction=False)
    pipe.lpush(AUDIT_LOG, json.dumps(entry, ensure_ascii=False))
    pipe.ltrim(AUDIT_LOG, 0, AUDIT_MAX - 1)
    pipe.execute()


def summary(record: ApplicationRecord) -> dict[str, Any]:
    unit = record.data.get("unit") or {}
    person = record.data.get("natural_person") or {}
    return {"number": record.number, "status": record.status, "status_text": record.status_text,
            "platform": record.platform, "cert_type": record.cert_type, "unit": unit.get("name") or person.get("name"),
            "created_at": record.created_at.isoformat(timespec="seconds"),
            "updated_at": record.updated_at.isoformat(timespec="seconds")}
