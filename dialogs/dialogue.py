"""The certificate-application dialogue as the handlers see it: start, handle, offer and the effects."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import Callable

from dialogs import catalogue as cat
from dialogs import engine
from dialogs import messages as M
from dialogs.application import FORM, Application
from dialogs.engine import DialogState, DraftDropped, Handoff
from dialogs.validators import normalize


@dataclass(frozen=True)
class DialogContext:
    today: datetime.date
    faq: Callable[[str], str | None] | None = None  # answer text if the text is a known question, else None
    agreements_url: str = ""  # base URL of the three agreement texts
    now: datetime.datetime | None = None  # when set, the consent is stamped with it (else today at 00:00)


@dataclass(frozen=True)
class Submit:
    application: Application


@dataclass
class DialogResult:
    state: DialogState | None  # None = nothing to keep (the caller deletes)
    replies: list[str]
    claimed: bool  # False = not ours: the caller falls through to the FAQ
    effects: list[object] = field(default_factory=list)


_START = re.compile(r"^(我要|我想)?(申请|新办|办理|办)(数字)?(证书|CA证书|CA|ca)?$|^(证书新办|新办证书|办证|申请证书|办理证书)$")
_RESUME = re.compile(r"^(继续|继续填写|继续申请)$")
_RESTART = re.compile(r"^(2|重新开始|重新填写|重来|重新申请)$")
_CONTINUE = re.compile(r"^(1|继续|继续填写|继续申请)$")


def is_start_command(text: str) -> bool:
    return bool(_START.match(normalize(text)))


def _result(step: engine.Step, claimed: bool = True) -> DialogResult:
    effects = list(step.effects)
    if step.completed is not None:
        effects.append(Submit(step.completed))
    return DialogResult(step.state, step.replies, claimed, effects)


def _fresh(ctx: DialogContext, platform: str | None) -> DialogResult:
    state = DialogState(form=FORM.name)
    if platform:
        pid = _platform_id(platform)
        if pid:
            state.answers["platform"] = pid
    return _result(engine.begin(FORM, state, ctx))


def _platform_id(name: str) -> str | None:
    """A platform id, name or alias (menu keys and deep links may use any of them)."""
    for p in cat.load().platforms.values():
        if name in (p.id, p.name, *p.aliases):
            return p.id
    return None


def start(state: DialogState | None, ctx: DialogContext, platform: str | None = None) -> DialogResult:
    """A new application (menu click or 申请证书); with a draft kept, ask whether to continue it or start over."""
    if state is None or not state.answers:
        return _fresh(ctx, platform)
    state = state.model_copy(deep=True)
    state.pending = "resume"
    title = FORM.title(state.answers)
    n = engine.filled_count(FORM, state.answers)
    return DialogResult(state, [M.RESUME_OR_RESTART.format(title=title, n=n)], True)


def handle(state: DialogState | None, text: str, ctx: DialogContext) -> DialogResult:
    t = normalize(text)
    if state is not None and state.v != engine.STATE_VERSION:
        state = None  # a draft from an incompatible release: start afresh rather than misread it
    if state is None:
        if is_start_command(t):
            return start(None, ctx)
        if _RESUME.match(t):
            return DialogResult(None, [M.NOTHING_TO_RESUME], True)
        return DialogResult(None, [], False)
    if state.pending == "resume":
        if _RESTART.match(t):
            return _fresh(ctx, None)
        if _CONTINUE.match(t):
            return _resume(state, ctx)
        if engine.command(t) in (("cancel", ""), ("handoff", "")):
            state = state.model_copy(update={"pending": None})
            return _result(engine.step(FORM, state, t, ctx))
        return DialogResult(state, [M.RESUME_BAD], True)
    if is_start_command(t):
        return start(state, ctx)
    if state.paused:
        if _RESUME.match(t):
            return _resume(state, ctx)
        return DialogResult(state, [], False)
    return _result(engine.step(FORM, state, t, ctx))


def _resume(state: DialogState, ctx: DialogContext) -> DialogResult:
    """继续: back to the first missing field (or the summary), whatever was being asked when it paused."""
    state = state.model_copy(deep=True)
    state.pending = None
    state.paused = False
    state.cursor = None
    return _result(engine.begin(FORM, state, ctx))


def reprompt(state: DialogState, ctx: DialogContext) -> list[str]:
    """The question the user is at, asked again (after the caller answered something outside the form)."""
    return engine.reprompt(FORM, state, ctx)


def offer(state: DialogState | None, values: dict[str, str], ctx: DialogContext, source: str) -> DialogResult:
    """Propose values found elsewhere (e.g. OCR of a business licence) for the user to accept with one 是.
    Keys are field keys of the form (unit.name, unit.id_number, unit.address, legal.name, …)."""
    if state is None:
        return DialogResult(None, [], False)
    return _result(engine.offer(FORM, state, values, ctx, source))


def submitted_replies(application: Application, number: str) -> list[str]:
    c = cat.load()
    docs = "\n".join(f"  · {c.document_names[d]}" for d in application.documents)
    pays = "、".join(c.payment_method_names[m] for m in application.payment_methods)
    who = "申请人" if application.cert_type_id == "person" else "经办人"
    form = "授权委托书" if "authorization_letter" in application.documents else "申请表"
    return [
        f"申请已提交，编号 {number}（{application.platform_name} {application.cert_type}，"
        f"合计 ¥{application.total_yuan:,.2f}）。",
        "接下来：\n"
        f"1. 打印{form}，{who}签字" + ("、加盖单位公章" if application.unit else "") + "；\n"
        f"2. 拍照上传资料：\n{docs}\n"
        f"3. {who}身份认证：身份证正反面照片 + 活体检测；\n"
        f"4. 缴费（{pays}）；\n"
        f"5. {c.post_payment_names[application.post_payment_step]}。\n"
        "审核通过后证书快递寄出（邮费到付）。",
    ]


__all__ = [
    "Application", "DialogContext", "DialogResult", "DialogState", "DraftDropped", "Handoff", "Submit",
    "handle", "is_start_command", "offer", "reprompt", "start", "submitted_replies",
]
