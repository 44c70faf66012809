"""Human agents: their service hours, and the context an agent sees first when a chat is handed over."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from bot.config import Settings
from bot.records import ApplicationRecord
from bot.store import Store

HANDOFF_LOG = "handoffs"  # newest first; the back office and `szca-bot` read it
HANDOFF_LOG_MAX = 500
WEEKDAY_NAMES = "一二三四五六日"


def _days(spec: str) -> set[int]:
    days: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.strip().partition("-")
        days.update(range(int(lo), int(hi or lo) + 1))
    return days


def _hours(spec: str) -> tuple[tuple[int, int], tuple[int, int]]:
    start, end = spec.split("-")
    h1, m1 = start.split(":")
    h2, m2 = end.split(":")
    return (int(h1), int(m1)), (int(h2), int(m2))


def on_duty(settings: Settings, now: datetime) -> bool:
    (h1, m1), (h2, m2) = _hours(settings.agent_hours)
    minutes = now.hour * 60 + now.minute
    return now.isoweekday() in _days(settings.agent_weekdays) and h1 * 60 + m1 <= minutes < h2 * 60 + m2


def hours_text(settings: Settings) -> str:
    days = sorted(_days(settings.agent_weekdays))
    span = f"周{WEEKDAY_NAMES[days[0] - 1]}至周{WEEKDAY_NAMES[days[-1] - 1]}" if len(days) > 1 else f"周{WEEKDAY_NAMES[days[0] - 1]}"
    return f"{span} {settings.agent_hours.replace('-', '—')}"


def next_on_duty(settings: Settings, now: datetime) -> str:
    (h1, m1), _ = _hours(settings.agent_hours)
    for ahead in range(0, 8):
        day = (now + timedelta(days=ahead)).replace(hour=h1, minute=m1, second=0, microsecond=0)
        if day > now and day.isoweekday() in _days(settings.agent_weekdays):
            label = "今天" if ahead == 0 else "明天" if ahead == 1 else f"周{WEEKDAY_NAMES[day.isoweekday() - 1]}"
            return f"{label} {day:%H:%M}"
    return "下个工作日"


def record_handoff(store: Store, openid_hash: str, record: ApplicationRecord | None, recent: list[str],
                   reason: str, now: datetime) -> dict:
    """What the agent needs first: which application, where it stands, what the user just said."""
    context = {
        "at": now.isoformat(timespec="seconds"),
        "user": openid_hash,
        "reason": reason,
        "application": record.number if record else None,
        "status": record.status_text if record else None,
        "recent": recent[-5:],
    }
    pipe = store.redis.pipeline(transaction=False)
    pipe.lpush(HANDOFF_LOG, json.dumps(context, ensure_ascii=False))
    pipe.ltrim(HANDOFF_LOG, 0, HANDOFF_LOG_MAX - 1)
    pipe.execute()
    return context
