"""The random code SZCA sends with a 0.01 transfer: kept only as a salted hash, five tries, then locked."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from bot.records import ApplicationRecord
from bot.store import Store

MAX_TRIES = 5


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def set_code(store: Store, number: str, code: str) -> None:
    salt = secrets.token_hex(8)

    def change(record: ApplicationRecord) -> None:
        record.data["code"] = {"salt": salt, "hash": _digest(salt, code), "tries": 0, "locked": False}

    store.update_record(number, change)


def new_code() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def check(store: Store, number: str, attempt: str) -> tuple[str, int]:
    """("ok" | "wrong" | "locked" | "unset", tries left). Counting happens in the same atomic update."""
    outcome: list[tuple[str, int]] = []

    def change(record: ApplicationRecord) -> None:
        code = record.data.get("code")
        if not code:
            outcome.append(("unset", MAX_TRIES))
            return
        if code["locked"]:
            outcome.append(("locked", 0))
            return
        if hmac.compare_digest(code["hash"], _digest(code["salt"], attempt)):
            outcome.append(("ok", MAX_TRIES - code["tries"]))
            return
        code["tries"] += 1
        code["locked"] = code["tries"] >= MAX_TRIES
        outcome.append(("locked", 0) if code["locked"] else ("wrong", MAX_TRIES - code["tries"]))

    store.update_record(number, change)
    return outcome[-1]
