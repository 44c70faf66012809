"""The FAQ: a knowledge base kept as data (knowledge.toml) and a fuzzy matcher that knows when it does not know."""

from faq.kb import Entry, KbError
from faq.responder import Faq, FaqProfile, FaqReply

__all__ = ["Entry", "Faq", "FaqProfile", "FaqReply", "KbError"]
