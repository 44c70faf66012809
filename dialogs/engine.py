"""A generic slot-filling engine: a form declared as Fields, walked one user message at a time, no I/O."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field as dc_field
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, Field as PydField
from rapidfuzz import fuzz, process

from dialogs import messages as M
from dialogs.validators import Invalid, normalize, yes_no

Answers = dict[str, Any]
Kind = Literal["text", "choice", "yesno", "number", "list"]

STATE_VERSION = 1
MAX_REPLY_BYTES = 1800  # WeChat caps a text at 2048 bytes; keep room for the caller's prefixes.


@dataclass(frozen=True)
class Choice:
    value: str | int | bool
    label: str
    aliases: tuple[str, ...] = ()
    note: str = ""  # shown beside the label, never matched (prices change, the label does not)


@dataclass(frozen=True)
class Field:
    """One question of a form. Callables receive the answers so far (flat dict keyed by slot key)."""

    key: str
    label: str  # unique in the form: used by 修改 and in the help ("经办人手机号")
    short: str = ""  # the summary shows it under a section heading ("手机号" under 【经办人】)
    prompt: str | Callable[[Answers, Any], str] = ""
    kind: Kind = "text"
    parse: Callable[[str], Any] | None = None
    parse_in: Callable[[str, Answers], Any] | None = None  # when validity depends on another answer
    check: Callable[[Any, Answers, str], str | None] | None = None  # cross-field rule -> error text
    choices: Sequence[Choice] | Callable[[Answers], Sequence[Choice]] = ()
    search: bool = False  # too many choices to list: match the text, suggest the closest few
    when: Callable[[Answers], bool] | None = None
    optional: bool = False
    default: Callable[[Answers], Any] | None = None
    auto: bool = False  # take the default without asking; still shown in the summary and changeable
    auto_note: Callable[[Answers], str] | None = None  # what to tell the user when the default was taken
    ask: bool = True  # False: never asked alone, filled from a multi-value message or by 修改
    recognize: Callable[[str], bool] | None = None  # a pattern that claims a token of a multi-value message
    group: str = ""  # fields of one group can be filled from one message
    help: str = ""
    show: Callable[[Any], str] | None = None
    in_summary: bool = True
    aliases: tuple[str, ...] = ()  # other names users give the field in 修改 …
    abort: Callable[[Any], str | None] | None = None  # a value that ends the dialogue (declined consent)
    stamp: bool = False  # store the moment of a yes instead of True (consent)
    items: tuple["Field", ...] = ()  # kind == "list": the sub-form asked once per item
    item_label: str = ""
    max_items: int = 20


@dataclass(frozen=True)
class Section:
    title: str
    hint: str = ""  # e.g. how to send every value of the section in one message


@dataclass(frozen=True)
class Form:
    name: str
    fields: tuple[Field, ...]
    sections: dict[str, Section] = dc_field(default_factory=dict)  # group (without item index) -> section
    title: Callable[[Answers], str] = lambda a: ""
    summary_header: str = ""
    summary_ask: str = M.SUMMARY_ASK
    summary_footer: Callable[[Answers, Any], list[str]] = lambda a, ctx: []
    build: Callable[[Answers, Any], Any] = lambda a, ctx: a


@dataclass(frozen=True)
class Slot:
    """A field placed in the form: list items are expanded into one slot per item and field."""

    key: str
    field: Field
    group: str
    label: str
    more: bool = False  # the synthetic "add another item?" question after each list item

    @property
    def section(self) -> str:
        return re.sub(r"\.\d+$", "", self.group)


class DialogState(BaseModel):
    """Everything kept between two messages. Small on purpose: it is stored as JSON per user (7-day TTL)."""

    v: int = STATE_VERSION
    form: str = "application"
    answers: dict[str, Any] = PydField(default_factory=dict)
    cursor: str | None = None  # key of the slot being asked; None at the summary
    confirming: bool = False
    pending: Literal["cancel", "offer", "resume"] | None = None
    options: list[Any] = PydField(default_factory=list)  # the narrowed choices offered as suggestions
    paused: bool = False  # a draft kept aside: texts go to the FAQ until 继续
    offer: dict[str, Any] = PydField(default_factory=dict)
    offer_source: str = ""


@dataclass(frozen=True)
class Handoff:
    pass


@dataclass(frozen=True)
class DraftDropped:
    pass


@dataclass
class Step:
    state: DialogState | None
    replies: list[str]
    effects: list[object] = dc_field(default_factory=list)
    completed: Any = None  # the built result when the user confirmed the summary


class _Suggest(Exception):
    """A choice answer matched several options: show them and let the user pick by number."""

    def __init__(self, options: list[Choice]) -> None:
        super().__init__("ambiguous")
        self.options = options


# --- commands ------------------------------------------------------------------------------------------------

_COMMANDS: list[tuple[str, re.Pattern[str]]] = [
    ("cancel", re.compile(r"^(取消|退出|不办了|放弃)(申请)?$")),
    ("back", re.compile(r"^(上一步|返回|回退|上一个)$")),
    ("skip", re.compile(r"^(跳过|略过|不填)$")),  # not 没有/无: those answer yes/no questions
    ("help", re.compile(r"^(帮助|help|\?|？|怎么填)$", re.I)),
    ("handoff", re.compile(r"^(转)?人工(客服|服务)?$|^转客服$")),
    ("resume", re.compile(r"^(继续|继续填写|继续申请)$")),
    ("pause", re.compile(r"^(暂停|稍后|等会|等一下|稍后再填)$")),
    ("modify", re.compile(r"^(修改|更改|改一下|更正)\s*(?P<name>.*)$")),
    # A bare 改 only with a space after it: 改革路 is an address, not a command.
    ("modify", re.compile(r"^改\s+(?P<name>.+)$")),
]
_CONFIRM = re.compile(r"^(确认|确认提交|提交|确定|是|对|没问题|无误|ok)$", re.I)
_KEEP = {"好", "好的", "保留", "不变", "不改", "不用改", "对", "是"}
DEFAULT_WORDS = {"好", "好的", "默认", "同上", "是", "对", "可以", "ok", "嗯", "行", "确认", "一样", "相同"}
_QUESTION = re.compile(r"[?？]|怎么|如何|什么|为什么|为啥|吗|哪里|哪儿|多少|多久|能否|能不能|要不要|是否需要")
_CN_NUM = str.maketrans({"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"})


def command(text: str) -> tuple[str, str] | None:
    t = normalize(text)
    for name, pattern in _COMMANDS:
        m = pattern.match(t)
        if m:
            return name, (m.groupdict().get("name") or "").strip()
    return None


# --- the form walked -------------------------------------------------------------------------------------------


def _applies(f: Field, answers: Answers) -> bool:
    return f.when is None or bool(f.when(answers))


def slots(form: Form, answers: Answers) -> list[Slot]:
    """The slots that apply to these answers, in asking order (conditions and list lengths follow answers)."""
    out: list[Slot] = []
    for f in form.fields:
        if not _applies(f, answers):
            continue
        if f.kind != "list":
            out.append(Slot(f.key, f, f.group, f.label))
            continue
        i = 0
        while True:
            group = f"{f.key}.{i}"
            for sub in f.items:
                if _applies(sub, answers):
                    out.append(Slot(f"{group}.{sub.key}", sub, group, f"{f.item_label}{i + 1}{sub.label}"))
            more_key = f"{group}.more"
            if i + 1 < f.max_items:
                more = Field(
                    key="more", label=f"是否再添加{f.item_label}", kind="yesno", aliases=(f"添加{f.item_label}",),
                    prompt=M.MORE_PROMPT.format(item=f.item_label), in_summary=False,
                )
                out.append(Slot(more_key, more, group, more.label, more=True))
            if answers.get(more_key) is True and i + 1 < f.max_items:
                i += 1
                continue
            break
    return out


def _slot(form: Form, answers: Answers, key: str | None) -> Slot | None:
    return next((s for s in slots(form, answers) if s.key == key), None)


def _first_missing(form: Form, answers: Answers) -> Slot | None:
    return next((s for s in slots(form, answers) if s.field.ask and s.key not in answers), None)


def _choices(f: Field, answers: Answers) -> list[Choice]:
    return list(f.choices(answers) if callable(f.choices) else f.choices)


def show_value(slot: Slot, value: Any, answers: Answers) -> str:
    f = slot.field
    if value is None:
        return "（未填）"
    if f.show:
        return f.show(value)
    if f.kind == "choice":
        for c in _choices(f, answers):
            if c.value == value:
                return c.label
    if f.kind == "yesno" or isinstance(value, bool):
        return M.YES if value else M.NO
    return str(value)


def _advance(form: Form, state: DialogState, ctx: Any, replies: list[str]) -> None:
    """Fill the automatic defaults, then ask the first missing slot, or show the summary when none is left."""
    state.options = []
    _drop_stale_choices(form, state.answers)
    while True:
        slot = _first_missing(form, state.answers)
        if slot is None:
            state.cursor = None
            state.confirming = True
            replies.extend(summary(form, state.answers, ctx))
            return
        if slot.field.auto and slot.field.default is not None:
            value = slot.field.default(state.answers)
            if value is not None:
                state.answers[slot.key] = value
                if slot.field.auto_note is not None:
                    replies.append(slot.field.auto_note(state.answers))
                continue
        state.cursor = slot.key
        state.confirming = False
        replies.append(prompt(form, slot, state, ctx, intro=True))
        return


def _drop_stale_choices(form: Form, answers: Answers) -> None:
    """A choice no longer offered (the platform changed and lacks that cert type) must be asked again."""
    for s in slots(form, answers):
        if s.field.kind == "choice" and not s.field.search and answers.get(s.key) is not None:
            if answers[s.key] not in {c.value for c in _choices(s.field, answers)}:
                del answers[s.key]


def _followers(form: Form, answers: Answers, changed: str) -> list[Slot]:
    """Text fields still holding their default (invoice title = unit name): they follow when it changes."""
    out = []
    for s in slots(form, answers):
        f = s.field
        if s.key == changed or f.default is None or f.kind in ("choice", "yesno") or s.key not in answers:
            continue
        if answers[s.key] is not None and answers[s.key] == f.default(answers):
            out.append(s)
    return out


def prompt(form: Form, slot: Slot, state: DialogState, ctx: Any, intro: bool = False) -> str:
    f = slot.field
    answers = state.answers
    lines: list[str] = []
    section = form.sections.get(slot.section)
    group_started = any(s.key in answers for s in slots(form, answers) if s.group == slot.group and not s.more)
    if intro and section and not group_started and not slot.more:
        title = section.title
        if slot.group != slot.section:  # a list item: number it
            title = f"{section.title}{int(slot.group.rsplit('.', 1)[1]) + 1}"
        lines.append(f"【{title}】" + (f"{section.hint}" if section.hint else ""))
    text = f.prompt(answers, ctx) if callable(f.prompt) else (f.prompt or f"请输入{slot.label}")
    lines.append(text)
    if f.kind == "choice" and not f.search:
        lines.extend(_numbered(_choices(f, answers)))
    elif f.kind == "yesno" and not slot.more and "回复" not in text:
        lines[-1] += M.YESNO_HINT
    if slot.key in answers:
        lines.append(M.CURRENT_VALUE.format(value=show_value(slot, answers[slot.key], answers)))
    elif f.default is not None and not f.auto:
        d = f.default(answers)
        if d is not None:
            lines.append(M.DEFAULT_HINT.format(value=show_value(slot, d, answers)))
    if f.optional:
        lines.append(M.OPTIONAL_HINT)
    return "\n".join(lines)


def _numbered(choices: Sequence[Choice]) -> list[str]:
    return [f"{i}. {c.label}" + (f"  {c.note}" if c.note else "") for i, c in enumerate(choices, 1)]


def match_choice(text: str, choices: Sequence[Choice], narrowed: Sequence[Any] = ()) -> Choice:
    """Number, exact label/alias, then a loose match (rapidfuzz); several close matches raise _Suggest."""
    t = normalize(text)
    pool = [c for c in choices if c.value in narrowed] if narrowed else list(choices)
    for candidate in (t, t.translate(_CN_NUM)):
        if candidate.isdigit() and 1 <= int(candidate) <= len(pool):
            return pool[int(candidate) - 1]
    low = t.lower()
    for c in choices:
        names = [c.label, str(c.value), *c.aliases]
        if any(low == n.lower() or t.translate(_CN_NUM) == n for n in names):
            return c
    names: list[tuple[str, Choice]] = [(n, c) for c in choices for n in (c.label, *c.aliases)]
    # A bank branch ("招商银行深圳分行") or a phrase ("要机构个人的") contains the name: prefer containment.
    # Several names inside ("要机构个人的" holds 机构, 个人 and 机构个人): the longest one is meant.
    contained = [(len(n), c) for n, c in names if len(n) >= 2 and n in t]
    if contained:
        longest = max(n for n, _ in contained)
        top = {id(c): c for n, c in contained if n == longest}
        if len(top) == 1:
            return next(iter(top.values()))
    scored = process.extract(t, [n for n, _ in names], scorer=fuzz.WRatio, limit=len(names))
    best: dict[int, tuple[float, Choice]] = {}
    for name, score, idx in scored:
        c = names[idx][1]
        if score > best.get(id(c), (0, c))[0]:
            best[id(c)] = (score, c)
    ranked = sorted(best.values(), key=lambda sc: -sc[0])
    if not ranked or ranked[0][0] < 70:
        raise Invalid(M.CHOICE_BAD)
    close = [c for s, c in ranked if s >= ranked[0][0] - 5 and s >= 70]
    if len(close) == 1:
        return close[0]
    raise _Suggest(close[:6])


def _parse(slot: Slot, raw: str, state: DialogState) -> Any:
    f = slot.field
    answers = state.answers
    t = normalize(raw)
    # For a yes/no question "是" is an answer, not "take the default".
    if f.default is not None and f.kind != "yesno" and t.lower() in DEFAULT_WORDS and slot.key not in answers:
        d = f.default(answers)
        if d is not None:
            return d
    if slot.key in answers and t in _KEEP and f.kind not in ("yesno",):
        return answers[slot.key]
    if f.kind == "yesno":
        return yes_no(t) if f.parse is None else f.parse(t)
    if f.kind == "choice":
        return match_choice(t, _choices(f, answers), state.options).value
    if f.parse_in is not None:
        return f.parse_in(t, answers)
    if f.parse is not None:
        return f.parse(t)
    return t


def _store(form: Form, slot: Slot, value: Any, state: DialogState, ctx: Any) -> str | None:
    """Cross-check and keep a parsed value; returns an error text instead when a cross-field rule fails."""
    f = slot.field
    if f.check is not None:
        prefix = slot.key[: len(slot.key) - len(f.key)]
        error = f.check(value, state.answers, prefix)
        if error:
            return error
    if f.stamp and value is True:
        now = getattr(ctx, "now", None) or datetime.datetime.combine(ctx.today, datetime.time())
        value = now.isoformat(timespec="seconds")
    followers = _followers(form, state.answers, slot.key)
    state.answers[slot.key] = value
    for s in followers:
        state.answers[s.key] = s.field.default(state.answers)  # type: ignore[misc]
    return None


def _auto_fills(slot: Slot, answers: Answers) -> bool:
    f = slot.field
    return f.auto and f.default is not None and f.default(answers) is not None


def _split(text: str) -> list[str]:
    tokens = [t for t in re.split(r"[\s,，;；、/|]+", normalize(text)) if t]
    # Numbers are copied in groups (139 1234 5678, 6222 0212 3456 789, 110105 19900101 1234):
    # glue each run of short digit groups back into one token.
    merged: list[str] = []
    run = False
    for t in tokens:
        short = len(t) <= 8 and bool(re.fullmatch(r"\d+[Xx]?", t))
        if short and run and merged[-1][-1].isdigit():
            merged[-1] += t
        else:
            merged.append(t)
        run = short
    return merged


def _multi(form: Form, state: DialogState, current: Slot, text: str) -> list[tuple[Slot, str]] | None:
    """Assign the tokens of one message to the slots of the current group, or None if it is one answer.

    Tokens matching a field's pattern (ID, mobile, e-mail…) go to that field; the rest fill the free-text
    fields in form order. Placing a token can open a field (a cert type opens its years), hence rounds.
    """
    tokens = _split(text)
    if len(tokens) < 2:
        return None
    work = state.model_copy(deep=True)
    taken: list[tuple[Slot, str]] = []
    left = tokens
    strong_hit = False
    for _ in range(4):
        used = {s.key for s, _ in taken}
        group = [
            s for s in slots(form, work.answers)
            if s.group == current.group and s.field.kind != "list" and not s.more and s.key not in used
            and (s.key == current.key or s.key not in state.answers)
        ]
        strong = [s for s in group if s.field.recognize is not None]
        free = [s for s in group if s.field.recognize is None and s.field.ask and not _auto_fills(s, work.answers)]
        new: list[tuple[Slot, str]] = []
        rest: list[str] = []
        for t in left:
            hit = next((s for s in strong if s.field.recognize(t) and all(s is not n for n, _ in new)), None)  # type: ignore[misc]
            if hit is None:
                rest.append(t)
            else:
                new.append((hit, t))
                strong_hit = True
        placed_free = list(zip(free, rest))
        new.extend(placed_free)
        left = rest[len(placed_free):]
        if not new:
            break
        for slot, t in new:
            try:
                work.answers[slot.key] = _parse(slot, t, work)
            except (Invalid, _Suggest):
                work.answers[slot.key] = None  # placed; the real pass reports the error
        taken.extend(new)
        if not left:
            break
    if left or not strong_hit:
        return None  # free text with spaces (an address), or more words than fields: one answer
    return taken


# --- one message ------------------------------------------------------------------------------------------------


def begin(form: Form, state: DialogState, ctx: Any) -> Step:
    replies: list[str] = []
    _advance(form, state, ctx, replies)
    return Step(state, replies)


def reprompt(form: Form, state: DialogState, ctx: Any) -> list[str]:
    if state.confirming or state.cursor is None:
        return summary(form, state.answers, ctx)
    slot = _slot(form, state.answers, state.cursor)
    if slot is None:
        replies: list[str] = []
        _advance(form, state, ctx, replies)
        return replies
    return [prompt(form, slot, state, ctx)]


def step(form: Form, state: DialogState, text: str, ctx: Any) -> Step:
    """Apply one user message to the state (mutated copy) and say what to reply."""
    state = state.model_copy(deep=True)
    t = normalize(text)
    if state.pending == "cancel":
        return _answer_cancel(form, state, t, ctx)
    if state.pending == "offer":
        return _answer_offer(form, state, t, ctx)

    cmd = command(t)
    if cmd is not None:
        return _command(form, state, cmd, ctx)

    if state.confirming:
        if _CONFIRM.match(t):
            return Step(None, [], completed=form.build(state.answers, ctx))
        faq = _faq(ctx, t)
        return Step(state, ([faq] if faq else []) + [M.CONFIRM_BAD])

    slot = _slot(form, state.answers, state.cursor)
    if slot is None:
        return begin(form, state, ctx)

    faq = _faq(ctx, t) if _QUESTION.search(t) else None
    if faq:
        return Step(state, [faq, prompt(form, slot, state, ctx)])

    pairs = None if state.options else _multi(form, state, slot, t)
    if pairs:
        return _fill_many(form, state, pairs, ctx)

    try:
        value = _parse(slot, t, state)
    except _Suggest as s:
        state.options = [c.value for c in s.options]
        return Step(state, [M.CHOICE_AMBIGUOUS + "\n" + "\n".join(_numbered(s.options))])
    except Invalid as e:
        faq = _faq(ctx, t)
        if faq:
            return Step(state, [faq, prompt(form, slot, state, ctx)])
        if slot.field.kind == "choice":
            # Start again from the whole list, with the list shown, rather than the last suggestions.
            state.options = []
            return Step(state, [e.message + "\n" + "\n".join(_numbered(_choices(slot.field, state.answers)))])
        return Step(state, [e.message, prompt(form, slot, state, ctx)])
    error = _store(form, slot, value, state, ctx)
    if error:
        return Step(state, [error, prompt(form, slot, state, ctx)])
    if slot.field.abort is not None:
        goodbye = slot.field.abort(value)
        if goodbye:
            return Step(None, [goodbye])
    replies: list[str] = []
    _advance(form, state, ctx, replies)
    return Step(state, replies)


def _fill_many(form: Form, state: DialogState, pairs: list[tuple[Slot, str]], ctx: Any) -> Step:
    saved: list[str] = []
    errors: list[str] = []
    for slot, token in pairs:
        try:
            value = _parse(slot, token, state)
        except (Invalid, _Suggest) as e:
            msg = e.message if isinstance(e, Invalid) else M.CHOICE_AMBIGUOUS.rstrip("：")
            errors.append(f"{slot.field.label}：{msg}")
            continue
        error = _store(form, slot, value, state, ctx)
        if error:
            errors.append(f"{slot.field.label}：{error}")
        else:
            saved.append(slot.field.label)
    replies: list[str] = []
    if saved and errors:
        replies.append(M.PARTIAL_SAVED.format(labels="、".join(saved)))
    replies.extend(errors)
    _advance(form, state, ctx, replies)
    return Step(state, replies)


def _faq(ctx: Any, text: str) -> str | None:
    hook = getattr(ctx, "faq", None)
    return hook(text) if hook else None


def _answer_cancel(form: Form, state: DialogState, t: str, ctx: Any) -> Step:
    try:
        sure = yes_no(t)
    except Invalid:
        return Step(state, [M.CANCEL_CONFIRM])
    if sure:
        return Step(None, [M.CANCELLED], effects=[DraftDropped()])
    state.pending = None
    return Step(state, [M.CANCEL_KEPT, *reprompt(form, state, ctx)])


def _command(form: Form, state: DialogState, cmd: tuple[str, str], ctx: Any) -> Step:
    name, arg = cmd
    if name == "cancel":
        state.pending = "cancel"
        return Step(state, [M.CANCEL_CONFIRM])
    if name == "handoff":
        state.paused = True
        return Step(state, [], effects=[Handoff()])
    if name == "pause":
        state.paused = True
        return Step(state, [M.PAUSED])
    if name == "resume":
        state.paused = False
        state.pending = None
        return Step(state, reprompt(form, state, ctx))
    if name == "modify":
        return _modify(form, state, arg, ctx)
    slot = _slot(form, state.answers, state.cursor)
    if name == "help":
        if slot is None:
            return Step(state, [M.HELP_COMMANDS, *reprompt(form, state, ctx)])
        head = M.HELP_HEADER.format(label=slot.label)
        text = "\n".join(x for x in (head, slot.field.help, M.HELP_COMMANDS) if x)
        return Step(state, [text, prompt(form, slot, state, ctx)])
    if name == "skip":
        if slot is None or not slot.field.optional:
            return Step(state, [M.SKIP_NOT_ALLOWED, *reprompt(form, state, ctx)])
        state.answers[slot.key] = None
        replies: list[str] = []
        _advance(form, state, ctx, replies)
        return Step(state, replies)
    if name == "back":
        asked = [s for s in slots(form, state.answers) if s.field.ask and not s.field.auto and s.key in state.answers]
        keys = [s.key for s in asked]
        if state.cursor in keys:
            before = asked[: keys.index(state.cursor)]
        elif state.confirming or state.cursor is None:
            before = asked
        else:  # the cursor is the first missing slot: everything answered so far lies before it
            all_keys = [s.key for s in slots(form, state.answers)]
            pos = all_keys.index(state.cursor) if state.cursor in all_keys else len(all_keys)
            before = [s for s in asked if all_keys.index(s.key) < pos]
        # Consent cannot be taken back by stepping: it is withdrawn with 取消.
        before = [s for s in before if not s.field.stamp]
        if not before:
            return Step(state, [M.BACK_AT_START, *reprompt(form, state, ctx)])
        target = before[-1]
        state.cursor = target.key
        state.confirming = False
        state.options = []
        return Step(state, [prompt(form, target, state, ctx)])
    return Step(state, reprompt(form, state, ctx))


def _modifiable(form: Form, answers: Answers) -> list[Slot]:
    # The last "add another?" answer is reopened by 修改 添加申请人, so an item can be added at the summary.
    return [
        s for s in slots(form, answers)
        if (s.more and answers.get(s.key) is False) or (not s.more and s.field.in_summary and s.field.kind != "list")
    ]


def _modify(form: Form, state: DialogState, name: str, ctx: Any) -> Step:
    candidates = _modifiable(form, state.answers)
    labels = "、".join(dict.fromkeys(s.label for s in candidates if s.key in state.answers))
    if not name:
        return Step(state, [M.MODIFY_WHICH.format(labels=labels)])
    names = [(n, s) for s in candidates for n in (s.label, *s.field.aliases)]
    exact = [s for n, s in names if n == name]
    if exact:
        target = exact[0]
    else:
        scored = process.extract(name, [n for n, _ in names], scorer=fuzz.WRatio, limit=None)
        ranked: dict[str, float] = {}
        for n, score, idx in scored:
            key = names[idx][1].key
            ranked[key] = max(ranked.get(key, 0), score)
        order = sorted(ranked.items(), key=lambda kv: -kv[1])
        if not order or order[0][1] < 60:
            return Step(state, [M.MODIFY_UNKNOWN.format(name=name, labels=labels)])
        close = [k for k, sc in order if sc >= order[0][1] - 3]
        if len(close) > 1:
            which = "、".join(s.label for s in candidates if s.key in close)
            return Step(state, [M.MODIFY_WHICH.format(labels=which)])
        target = next(s for s in candidates if s.key == close[0])
    state.cursor = target.key
    state.confirming = False
    state.options = []
    return Step(state, [prompt(form, target, state, ctx)])


def offer(form: Form, state: DialogState, values: dict[str, str], ctx: Any, source: str) -> Step:
    """Propose several values found elsewhere (OCR of a licence); the user accepts all with one 是."""
    state = state.model_copy(deep=True)
    by_key = {s.key: s for s in slots(form, state.answers)}
    accepted: dict[str, Any] = {}
    lines: list[str] = []
    for key, raw in values.items():
        slot = by_key.get(key)
        if slot is None:
            continue
        try:
            value = _parse(slot, raw, state)
        except (Invalid, _Suggest):
            continue  # an OCR misread is simply not offered; the user types that one
        accepted[key] = value
        lines.append(f"{slot.label}：{show_value(slot, value, state.answers)}")
    if not accepted:
        return Step(state, [M.OFFER_NOTHING, *reprompt(form, state, ctx)])
    state.offer = accepted
    state.offer_source = source
    state.pending = "offer"
    return Step(state, [M.OFFER_ASK.format(source=source, lines="\n".join(lines))])


def _answer_offer(form: Form, state: DialogState, t: str, ctx: Any) -> Step:
    try:
        take = yes_no(t)
    except Invalid:
        # Neither yes nor no: the user moved on (typed the value, a command, a question); the offer lapses.
        state.pending = None
        state.offer = {}
        state.offer_source = ""
        return step(form, state, t, ctx)
    replies = [M.OFFER_APPLIED if take else M.OFFER_IGNORED]
    if take:
        state.answers.update(state.offer)
    state.pending = None
    state.offer = {}
    state.offer_source = ""
    if take and (state.cursor in state.answers or state.cursor is None):
        _advance(form, state, ctx, replies)
    else:
        replies.extend(reprompt(form, state, ctx))
    return Step(state, replies)


# --- summary --------------------------------------------------------------------------------------------------------


def summary(form: Form, answers: Answers, ctx: Any) -> list[str]:
    lines: list[str] = [form.summary_header] if form.summary_header else []
    current_group = None
    for s in slots(form, answers):
        if s.more or not s.field.in_summary or s.key not in answers:
            continue
        if s.group != current_group:
            current_group = s.group
            section = form.sections.get(s.section)
            if section:
                title = section.title
                if s.group != s.section:
                    title += str(int(s.group.rsplit(".", 1)[1]) + 1)
                lines.append(f"【{title}】")
        label = s.field.short or s.field.label
        lines.append(f"{label}：{show_value(s, answers[s.key], answers)}")
    lines.extend(form.summary_footer(answers, ctx))
    lines.append(form.summary_ask)
    return pack(lines)


def pack(lines: list[str], limit: int = MAX_REPLY_BYTES) -> list[str]:
    """Join lines into as few messages as fit WeChat's byte limit, never splitting a line."""
    out: list[str] = []
    buf = ""
    for line in lines:
        candidate = f"{buf}\n{line}" if buf else line
        if buf and len(candidate.encode()) > limit:
            out.append(buf)
            buf = line
        else:
            buf = candidate
    if buf:
        out.append(buf)
    return out


def filled_count(form: Form, answers: Answers) -> int:
    return sum(1 for s in slots(form, answers) if s.key in answers and not s.more and s.field.in_summary)
