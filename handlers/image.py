"""Photos: acknowledged for now; the document flow (uploads, OCR) builds on this handler."""

from __future__ import annotations

from typing import Any

from bot import messages
from bot.replies import Reply, Text
from handlers import Context, on_message


@on_message("image")
def image(message: Any, ctx: Context) -> list[Reply]:
    return [Text(messages.IMAGE_RECEIVED)]
