"""Message kinds the assistant does not work with: a polite pointer to text or photos, never silence."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.replies import Reply, Text
from handlers import Context, on_message


@on_message("location")
def location(message: Any, ctx: Context) -> list[Reply]:
    return [Text(messages.LOCATION_RECEIVED)]


@on_message("link", "video", "shortvideo", "file", "music")
def unsupported(message: Any, ctx: Context) -> list[Reply]:
    return [Text(messages.UNSUPPORTED)]


@on_message("*")
def unknown(message: Any, ctx: Context) -> list[Reply]:
    return [Text(messages.HELP)]
