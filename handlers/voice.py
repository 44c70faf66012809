"""Voice messages: WeChat's speech recognition text goes through the text handler; without it, ask for text."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.replies import Reply, Text
from handlers import Context, on_message
from handlers.text import answer_text


@on_message("voice")
def voice(message: Any, ctx: Context) -> list[Reply]:
    recognised = (getattr(message, "recognition", None) or "").strip().rstrip("。！？!?.")
    if not recognised:
        return [Text(messages.VOICE_NOT_RECOGNISED)]
    return answer_text(recognised, ctx)
