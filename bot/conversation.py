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
        """None when there is nothing worth keeping (the key is then deleted)."""
        if self == Conversation():
            return None
        return self.model_dump_json(exclude_defaults=True)

    @property
    def in_form(self) -> bool:
        return self.dialog is not None and not self.dialog.paused and self.dialog.pending is None


def dialog_context(base_url: str, faq_hook: Callable[[str], str | None] | None, now: datetime) -> dialogs.DialogContext:
    return dialogs.DialogContext(today=now.date(), now=now, faq=faq_hook, agreements_url=f"{base_url}/agreements")
