"""Logging set-up: one line per message, and a filter that masks identifiers whatever a log line holds."""

from __future__ import annotations

import logging
import re

from bot.store import hash_openid

# ID numbers (18 chars), mainland mobiles (11 digits) and account-like digit runs (8-32) are masked in every
# record, including tracebacks, so a careless log call can't leak them.
_ID = re.compile(r"(?<![0-9A-Za-z])([1-9]\d{5})\d{8}(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_DIGITS = re.compile(r"(?<![0-9A-Za-z.])(\d{4})[\d ]{4,24}(\d{4})(?![0-9A-Za-z.])")
# Access logs carry the openid in the callback's query string.
_OPENID = re.compile(r"(openid=)([^&\s\"']+)")


def mask(text: str) -> str:
    text = _ID.sub(lambda m: f"{m.group(1)}********{m.group(2)[-1]}", text)
    text = _MOBILE.sub(r"\1****\2", text)
    text = _DIGITS.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _OPENID.sub(lambda m: m.group(1) + hash_openid(m.group(2)), text)


class MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def setup(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, MaskingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(MaskingFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # RQ installs its own unmasked handler on "rq.worker" unless that logger already has one: give it ours.
    rq_log = logging.getLogger("rq.worker")
    rq_log.addHandler(handler)
    rq_log.propagate = False
    # The Aliyun SDK logs full request URLs (with the AccessKeyId) at DEBUG; never let that through.
    logging.getLogger("aliyunsdkcore").setLevel(logging.WARNING)
