"""The FAQ as the handlers see it: a question in, a Chinese reply out (answer, numbered suggestions, or an honest
"I don't know"), personalised with what we know of the user's application, on a knowledge base that reloads
itself when its file changes."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

from faq.kb import DEFAULT_PATH, Entry, KbError, KnowledgeBase, load, placeholders
from faq.matcher import Matcher, decide

log = logging.getLogger(__name__)

AUTO_RELOAD_INTERVAL = 1.0  # seconds between file checks made by ask() itself


@dataclass(frozen=True)
class FaqProfile:
    """What we know of the asking user's latest application; all optional."""

    application_number: str | None = None
    platform_name: str | None = None  # e.g. "深圳公共资源交易平台"
    cert_type: str | None = None  # "机构证书" | "机构个人证书" | "自然人证书"
    payment_method: str | None = None  # "online" (WeChat Pay/Alipay) | "transfer" (公对公) | None
    post_payment_step: str | None = None  # "financial_auth" | "random_code" | None
    status_text: str | None = None  # e.g. "待审核" / "已驳回：身份证复印件未加盖公章"
    invoice_title: str | None = None


@dataclass(frozen=True)
class FaqReply:
    outcome: Literal["answer", "suggest", "none"]
    text: str
    entry_id: str | None = None
    suggestions: tuple[str, ...] = ()
    score: float = 0.0


def personal_answer(entry: Entry, profile: FaqProfile | None) -> str:
    """The first variant whose `when` globs match and whose placeholders are all known; else the general answer."""
    if profile is None:
        return entry.answer
    values = {k: v for k, v in asdict(profile).items() if v}
    for variant in entry.variants:
        if not all(k in values and fnmatchcase(values[k], pattern) for k, pattern in variant.when.items()):
            continue
        if not placeholders(variant.answer) <= values.keys():
            continue
        return variant.answer.format_map(values)
    return entry.answer


# "2", "2.", "第二个", "选2", "②" (NFKC turns circled digits into plain ones)
_PICK = re.compile(r"^(?:选|选择|我选)?第?([1-9]|[一二三四五六七八九])(?:个|条|项|号)?[.。、,，!！]?$")
_CN_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}

# A form value (name, ID number, mobile, amount, e-mail) never passes this; a question has a question mark or a
# question word.
_QUESTION = re.compile(
    r"[?？]|怎么|怎样|如何|什么|啥|哪|吗|呢|么$|多久|多少|几|为什么|为啥|咋|是否|能否|能不能|可不可以|有没有"
    r"|\b(how|what|where|when|why)\b"
)
_FORM_VALUE = re.compile(r"^[\dxX\s+\-()（）]+$|^[\w.+-]+@[\w-]+(\.[\w-]+)+$")


def looks_like_question(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text).strip()
    if not text or _FORM_VALUE.match(text):
        return False
    return bool(_QUESTION.search(text.lower()))


@dataclass(frozen=True)
class _Loaded:
    kb: KnowledgeBase
    matcher: Matcher
    entries: dict[str, Entry]
    signature: tuple[int, int, int] | None


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Faq:
    """The knowledge base and its matcher; safe to share between threads (the loaded state is swapped whole)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else DEFAULT_PATH
        self._lock = threading.Lock()
        self._failed_signature: tuple[int, int, int] | None = None
        self._next_check = 0.0
        signature = _signature(self.path)
        self._state = self._build(load(self.path), signature)  # a broken file at start-up is fatal: no old KB

    @staticmethod
    def _build(kb: KnowledgeBase, signature: tuple[int, int, int] | None) -> _Loaded:
        return _Loaded(kb, Matcher(kb), kb.by_id(), signature)

    # -- reload -----------------------------------------------------------------------------------------------
    def reload(self) -> bool:
        """Re-read the file if it changed since the last load; a broken file keeps the old KB and logs an error."""
        signature = _signature(self.path)
        if signature is None or signature == self._state.signature or signature == self._failed_signature:
            return False
        with self._lock:
            if signature == self._state.signature:
                return False
            try:
                state = self._build(load(self.path), signature)
            except KbError as exc:
                self._failed_signature = signature
                log.error("FAQ knowledge base not reloaded, keeping the previous one: %s", exc)
                return False
            self._state = state
            self._failed_signature = None
        log.info("FAQ knowledge base reloaded from %s (%d entries)", self.path, len(state.entries))
        return True

    def _auto_reload(self) -> None:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + AUTO_RELOAD_INTERVAL
            self.reload()

    # -- questions ----------------------------------------------------------------------------------------------
    @property
    def kb(self) -> KnowledgeBase:
        return self._state.kb

    @property
    def matcher(self) -> Matcher:
        return self._state.matcher

    def entry(self, entry_id: str) -> Entry:
        return self._state.entries[entry_id]

    def ask(self, text: str, profile: FaqProfile | None = None) -> FaqReply:
        self._auto_reload()
        state = self._state
        decision = decide(state.matcher.rank(text), state.kb.thresholds)
        score = decision.top.score if decision.top else 0.0
        if decision.outcome == "answer":
            entry = state.entries[decision.ranked[0].entry_id]
            return FaqReply("answer", personal_answer(entry, profile), entry.id, score=score)
        if decision.outcome == "suggest":
            messages = state.kb.messages
            lines = [messages.suggest_header]
            lines += [f"{n}. {state.entries[i].title}" for n, i in enumerate(decision.suggestions, start=1)]
            lines.append(messages.suggest_footer)
            return FaqReply("suggest", "\n".join(lines), suggestions=decision.suggestions, score=score)
        return FaqReply("none", state.kb.messages.no_match, score=score)

    def pick(self, suggestions: Sequence[str], reply: str, profile: FaqProfile | None = None) -> FaqReply | None:
        """The answer for a numbered suggestion ("2", "第二个"); None if the reply is not a pick of one of them."""
        text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", reply))
        match = _PICK.match(text)
        if not match:
            return None
        digit = match.group(1)
        number = int(digit) if digit.isdigit() else _CN_DIGITS[digit]
        if not 1 <= number <= len(suggestions):
            return None
        entry = self._state.entries.get(suggestions[number - 1])
        if entry is None:  # the entry went away in a reload since the suggestions were made
            return None
        return FaqReply("answer", personal_answer(entry, profile), entry.id, score=100.0)

    def hook(self, text: str) -> str | None:
        """For the dialogue mid-form: the answer only when confident and the text is a question, else None."""
        if not looks_like_question(text):
            return None
        reply = self.ask(text)
        return reply.text if reply.outcome == "answer" else None


def from_environment() -> Faq:
    """The FAQ at FAQ_PATH if set, else the packaged knowledge base (for commands run outside the service)."""
    path = os.environ.get("FAQ_PATH")
    return Faq(Path(path) if path else None)
