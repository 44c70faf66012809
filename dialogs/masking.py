"""Masks for personal numbers, for summaries and logs: enough to recognise one's own, never the whole."""

from __future__ import annotations

import re


def _digits(s: object) -> str:
    return re.sub(r"[\s\-]", "", str(s or ""))


def mask_id(s: object) -> str:
    """440305199001011234 -> 4403**********1234 (hides the birth date and the order code)."""
    v = _digits(s)
    if len(v) <= 8:
        return "*" * len(v)
    return v[:4] + "*" * (len(v) - 8) + v[-4:]


def mask_mobile(s: object) -> str:
    """13800138000 -> 138****8000."""
    v = _digits(s)
    if len(v) < 8:
        return "*" * len(v)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_account(s: object) -> str:
    """6222021234567890123 -> ****0123: the last four digits are what people check against a card."""
    v = _digits(s)
    if len(v) <= 4:
        return "*" * len(v)
    return "****" + v[-4:]
