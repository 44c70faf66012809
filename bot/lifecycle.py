"""An application's lifecycle: the states, the only legal moves between them, and the history of each move."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

from bot.records import ApplicationRecord, HistoryEntry
from bot.store import Store

# documents → identity → payment → (financial_auth | code) → review → approved | rejected → shipped,
# plus financial_auth_failed and refunded. A corporate transfer goes from payment to review once finance
# has matched the money (its PIN comes by SMS, so no 0.01 step).
TRANSITIONS: dict[str, frozenset[str]] = {
    "documents": frozenset({"identity"}),
    "identity": frozenset({"payment"}),
    "payment": frozenset({"financial_auth", "code", "review"}),
    "financial_auth": frozenset({"review", "financial_auth_failed", "refunded"}),
    "financial_auth_failed": frozenset({"financial_auth", "refunded"}),
    "code": frozenset({"review", "refunded"}),
    "review": frozenset({"approved", "rejected", "refunded"}),
    "rejected": frozenset({"review", "refunded"}),
    "approved": frozenset({"shipped", "refunded"}),
    "shipped": frozenset(),
    "refunded": frozenset(),
}
PAID = frozenset({"financial_auth", "financial_auth_failed", "code", "review", "rejected", "approved", "shipped"})


class IllegalTransition(Exception):
    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"{current} -> {target}")
        self.current = current
        self.target = target


def move(store: Store, number: str, target: str, *, by: str, note: str = "", now: datetime | None = None,
         retention_days: int = 180, also: Callable[[ApplicationRecord], None] | None = None) -> ApplicationRecord:
    """Move the record to `target` if the lifecycle allows it from where it is now; record who, when, why.

    `also` changes other fields in the same atomic update (e.g. the payment that caused the move)."""
    now = now or datetime.now()

    def change(record: ApplicationRecord) -> None:
        if target not in TRANSITIONS.get(record.status, frozenset()):
            raise IllegalTransition(record.status, target)
        if also is not None:
            also(record)
        record.status = target
        record.updated_at = now
        record.retain_until = now + timedelta(days=retention_days)
        record.history.append(HistoryEntry(at=now, by=by, status=target, note=note))

    return store.update_record(number, change)
