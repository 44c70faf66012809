"""The shape of one user's conversation state (kept in Redis for 7 days), shared by handlers and jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from pydantic import BaseModel, Field, ValidationError

import dialogs


class PendingUpload(BaseModel):
    """A photo kept aside until the user says which document it is."""

    number: str
    key: str  # file-store key of the kept bytes
    kind: str
    options: list[str]


class Conversation(BaseModel):
    v: int = 1
    dialog: dialogs.DialogState | None = None
    faq_suggestions: list[str] = Field(default_factory=list)
    latest_application: str | None = None
    pending_upload: PendingUpload | None = None
    # Set while a human agent has the conversation (epoch seconds when it lapses without a close event).
    agent_until: float | None = None
    # Messages in a row the bot did not understand; a human is offered at the configured count.
    misses: int = 0
    # While correcting a rejected application: its number (确认 updates it instead of creating a new one).
    editing: str | None = None
    # The user's last few messages, masked, for the agent who takes over.
    recent: list[str] = Field(default_factory=list)

    @classmethod
    def parse(cls, raw: bytes | None) -> "Conversation":
        if not raw:
            return cls()
        try:
            return cls.model_validate_json(raw)
        except ValidationError:
            # A state from an older release that no longer fits: start afresh rather than fail every message.
            return cls()

    def dump(self) -> str | None:
        """None when there is nothing worth keeping (the key is then deleted). The recent messages alone are
        not worth keeping: they are context for an agent, kept only alongside a draft, an application or
        a run of misunderstood messages."""
        if self.model_copy(update={"recent": []}) == Conversation():
            return None
        return self.model_dump_json(exclude_defaults=True)

    @property
    def in_form(self) -> bool:
        return self.dialog is not None and not self.dialog.paused and self.dialog.pending is None


def dialog_context(base_url: str, faq_hook: Callable[[str], str | None] | None, now: datetime) -> dialogs.DialogContext:
    return dialogs.DialogContext(today=now.date(), now=now, faq=faq_hook, agreements_url=f"{base_url}/agreements")
