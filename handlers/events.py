"""Events: subscribe/unsubscribe, menu clicks, QR scans, link views; anything else is acknowledged silently."""

from __future__ import annotations

from typing import Any

from bot import menu, messages
from bot.replies import Reply, Text
from handlers import Context, on_event
from handlers.text import answer_text, handoff, load_conversation, my_applications, save_conversation, start_application


@on_event("subscribe")
def subscribe(message: Any, ctx: Context) -> list[Reply]:
    return [Text(messages.WELCOME)]


@on_event("unsubscribe")
def unsubscribe(message: Any, ctx: Context) -> list[Reply]:
    # The user left: drop the conversation (a draft holds personal data). Submitted applications are records
    # with their own retention and stay.
    ctx.turn.save(None)
    return []


@on_event("click")
def click(message: Any, ctx: Context) -> list[Reply]:
    key = getattr(message, "key", "") or ""
    if key == menu.NEW_APPLICATION:
        return start_application(ctx)
    if key == menu.MY_APPLICATIONS:
        return my_applications(ctx)
    if key == menu.FAQ:
        return [Text(messages.FAQ_MENU)]
    if key == menu.HUMAN_AGENT:
        conv = load_conversation(ctx)
        replies = handoff(ctx, conv, "菜单：人工客服")
        save_conversation(ctx, conv)
        return replies
    return [Text(messages.HELP)]


@on_event("subscribe_scan", "scan")
def scan(message: Any, ctx: Context) -> list[Reply]:
    # A scan of one of our QR codes by someone who already follows us: welcome back and show the way.
    scene = (getattr(message, "scene_id", "") or "").removeprefix("qrscene_")
    if scene.startswith("apply"):
        return start_application(ctx)
    return [Text(messages.WELCOME)] if message.event == "subscribe_scan" else [Text(messages.HELP)]


@on_event("kf_close_session")
def agent_closed(message: Any, ctx: Context) -> list[Reply]:
    """The agent ended the session: the bot answers again from the next message."""
    conv = load_conversation(ctx)
    conv.agent_until = None
    save_conversation(ctx, conv)
    return []


@on_event("view", "location", "templatesendjobfinish", "*")
def silent(message: Any, ctx: Context) -> list[Reply]:
    return []


__all__ = ["answer_text"]
