"""The table of contents of the bot: which handler answers which WeChat message type or event.

Each handler is `(message, ctx) -> list[Reply]`; the gateway renders the first reply passively and pushes the
rest.  Registration is by decorator in the handler modules, imported once below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from bot.replies import Reply
from bot.services import Services
from bot.store import Turn

Handler = Callable[[Any, "Context"], list[Reply]]


@dataclass
class Context:
    openid: str
    turn: Turn
    services: Services
    now: datetime


_messages: dict[str, Handler] = {}
_events: dict[str, Handler] = {}


def on_message(*kinds: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for kind in kinds:
            _messages[kind] = fn
        return fn

    return register


def on_event(*events: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for event in events:
            _events[event] = fn
        return fn

    return register


def resolve(message: Any) -> Handler:
    if message.type == "event":
        return _events.get(message.event, _events["*"])
    raw_type = getattr(message, "_data", {}).get("MsgType", message.type)
    if raw_type == "event":  # an event wechatpy has no class for
        return _events["*"]
    return _messages.get(message.type, _messages.get(raw_type, _messages["*"]))


def dispatch(message: Any, ctx: Context) -> tuple[str, list[Reply]]:
    """Run the handler for this message; returns its name (for the log line) and its replies."""
    handler = resolve(message)
    return f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}", handler(message, ctx)


from handlers import events, image, other, text, voice  # noqa: E402,F401  (registers the handlers)
