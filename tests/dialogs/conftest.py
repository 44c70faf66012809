"""Fixtures for the dialogue tests: valid identifiers made with stdnum, a context, and a chat driver."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Callable

import pytest
from stdnum.cn import ric, uscc

import dialogs
from dialogs import engine
from dialogs.application import FORM

TODAY = datetime.date(2026, 11, 24)


def make_id(body17: str) -> str:
    """A valid resident ID from its first 17 digits (stdnum computes the check character)."""
    return body17 + ric.calc_check_digit(body17 + "0")


def make_uscc(body17: str) -> str:
    return body17 + uscc.calc_check_digit(body17)


LEGAL_ID = make_id("11010519700307451")
HANDLER_ID = make_id("44030119900101123")
PERSON_ID = make_id("31010419851212002")
APPLICANT_IDS = [make_id("11010819920505003"), make_id("44030419880808004"), make_id("44030119950615005")]
USCC = "91440300723038758B"  # SZCA's own code, printed in the 广电 guide


def faq_hook(text: str) -> str | None:
    if "PIN" in text.upper():
        return "证书PIN码：微信/支付宝付款时以转账附言发送到对公账户，请向财务获取。"
    return None


CTX = dialogs.DialogContext(today=TODAY, faq=faq_hook, agreements_url="https://bot.example/agreements",
                            now=datetime.datetime(2026, 11, 24, 9, 30))

# One answer per field, the way a careful user types them one message at a time.
TYPICAL = {
    "consent": "同意",
    "years": "3",
    "seal": "是",
    "holders": "否",
    "unit.name": "深圳市电子商务安全证书管理有限公司",
    "unit.id_number": USCC,
    "unit.address": "广东省深圳市南山区高新中二路深圳软件园8栋301",
    "legal.name": "陈明",
    "legal.id": LEGAL_ID,
    "legal.mobile": "13912345678",
    "handler.name": "张三",
    "handler.id": HANDLER_ID,
    "handler.mobile": "13800138000",
    "handler.email": "zhangsan@qq.com",
    "handler.title": "办事员",
    "finance.bank": "工行",
    "finance.account": "4000 0211 0920 0123 456",
    "applicants.name": "李四",
    "applicants.id": APPLICANT_IDS[0],
    "applicants.mobile": "13700137000",
    "applicants.years": "2",
    "applicants.more": "否",
    "person.name": "王五",
    "person.id": PERSON_ID,
    "person.mobile": "13600136000",
    "person.email": "wangwu@163.com",
    "mailing.address": "广东省深圳市福田区福华一路1号",
    "invoice.kind": "1",
}


@dataclass
class Chat:
    """A user talking to the dialogue: keeps the state between messages like the handler does."""

    ctx: dialogs.DialogContext = CTX
    state: dialogs.DialogState | None = None
    sent: int = 0
    replies: list[str] = field(default_factory=list)
    effects: list[object] = field(default_factory=list)
    claimed: bool = True

    def start(self, platform: str | None = None) -> str:
        self.sent += 1  # the menu click or "申请证书" is a user action too
        return self._take(dialogs.start(self.state, self.ctx, platform))

    def say(self, text: str) -> str:
        self.sent += 1
        return self._take(dialogs.handle(self.state, text, self.ctx))

    def _take(self, result: dialogs.DialogResult) -> str:
        assert all(len(r.encode()) <= 2048 for r in result.replies), "a reply longer than WeChat allows"
        self.claimed = result.claimed
        if result.claimed:
            self.state = result.state
        self.replies = result.replies
        self.effects = result.effects
        return "\n".join(result.replies)

    @property
    def cursor(self) -> str | None:
        return self.state.cursor if self.state else None

    @property
    def answers(self) -> dict:
        assert self.state is not None
        return self.state.answers

    def field_key(self) -> str | None:
        """The cursor without the list index: applicants.1.name -> applicants.name."""
        return re.sub(r"\.\d+\.", ".", self.cursor) if self.cursor else None

    def fill(self, answers: dict[str, str], until: Callable[["Chat"], bool] | None = None, limit: int = 80) -> None:
        """Answer whatever is asked from the table until the summary (or until the condition holds)."""
        for _ in range(limit):
            if self.state is None or self.state.confirming or (until and until(self)):
                return
            key = self.field_key()
            assert key in answers, f"no scripted answer for {key}: {self.replies}"
            self.say(answers[key])
        raise AssertionError("the form never reached the summary")

    def submitted(self) -> dialogs.Application:
        subs = [e for e in self.effects if isinstance(e, dialogs.Submit)]
        assert len(subs) == 1, self.replies
        return subs[0].application


@pytest.fixture
def chat() -> Chat:
    return Chat()


@pytest.fixture
def form():
    return FORM


@pytest.fixture
def eng():
    return engine
