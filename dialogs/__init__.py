"""The slot-filling engine and the certificate-application dialogue: pure functions, no I/O."""

from dialogs import catalogue
from dialogs.application import Application
from dialogs.dialogue import (
    DialogContext,
    DialogResult,
    Submit,
    handle,
    is_start_command,
    offer,
    reprompt,
    start,
    submitted_replies,
)
from dialogs.engine import DialogState, DraftDropped, Handoff
from dialogs.masking import mask_account, mask_id, mask_mobile

__all__ = [
    "Application", "DialogContext", "DialogResult", "DialogState", "DraftDropped", "Handoff", "Submit",
    "catalogue", "handle", "is_start_command", "mask_account", "mask_id", "mask_mobile", "offer", "reprompt", "start",
    "submitted_replies",
]
