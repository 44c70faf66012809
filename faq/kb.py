"""The FAQ knowledge base: the TOML data file read and validated into immutable pydantic models."""

from __future__ import annotations

import string
import tomllib
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

DEFAULT_PATH = Path(__file__).with_name("knowledge.toml")

# The FaqProfile fields an answer may use as {placeholder} or test in `when`; kept here (not imported from the
# responder) so the data file can be validated on its own.
PROFILE_FIELDS = frozenset(
    {
        "application_number",
        "platform_name",
        "cert_type",
        "payment_method",
        "post_payment_step",
        "status_text",
        "invoice_title",
    }
)
MIN_EXAMPLES = 6

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class KbError(Exception):
    """The data file is missing, is not TOML, or does not validate; the message says where."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def placeholders(template: str) -> frozenset[str]:
    return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


class Variant(_Frozen):
    """A personal answer, used when every `when` glob matches the user's profile."""

    when: dict[str, str]
    answer: Text

    @field_validator("when")
    @classmethod
    def _known_fields(cls, when: dict[str, str]) -> dict[str, str]:
        unknown = set(when) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"unknown profile fields in when: {sorted(unknown)}")
        return when

    @field_validator("answer")
    @classmethod
    def _known_placeholders(cls, answer: str) -> str:
        unknown = placeholders(answer) - PROFILE_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholders: {sorted(unknown)}")
        return answer


class Entry(_Frozen):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
    title: Text
    answer: Text
    examples: tuple[Text, ...] = Field(min_length=MIN_EXAMPLES)
    keywords: tuple[Text, ...] = ()
    variants: tuple[Variant, ...] = ()

    @field_validator("answer")
    @classmethod
    def _no_placeholders(cls, answer: str) -> str:
        if placeholders(answer):
            raise ValueError("the general answer must not use {placeholders}; put them in a variant")
        return answer


class Synonyms(_Frozen):
    canonical: Text
    variants: tuple[Text, ...] = Field(min_length=1)


class Thresholds(_Frozen):
    answer: float = Field(ge=0, le=100)
    margin: float = Field(ge=0, le=100)
    suggest: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.suggest > self.answer:
            raise ValueError("suggest threshold must not exceed the answer threshold")
        return self


class Messages(_Frozen):
    suggest_header: Text
    suggest_footer: Text
    no_match: Text


class Normalise(_Frozen):
    fillers: tuple[Text, ...] = ()


class OutOfScope(_Frozen):
    phrases: tuple[Text, ...] = ()


class KnowledgeBase(_Frozen):
    thresholds: Thresholds
    messages: Messages
    normalise: Normalise = Normalise()
    out_of_scope: OutOfScope = OutOfScope()
    synonyms: tuple[Synonyms, ...] = ()
    entries: tuple[Entry, ...] = Field(min_length=1)

    @field_validator("entries")
    @classmethod
    def _unique_ids(cls, entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                raise ValueError(f"duplicate entry id: {entry.id}")
            seen.add(entry.id)
        return entries

    def by_id(self) -> dict[str, Entry]:
        return {entry.id: entry for entry in self.entries}


def load(path: Path = DEFAULT_PATH) -> KnowledgeBase:
    """Read and validate the data file; raises KbError with a readable reason."""
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except OSError as exc:
        raise KbError(f"{path}: cannot read: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise KbError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return KnowledgeBase.model_validate(raw)
    except ValidationError as exc:
        raise KbError(f"{path}: invalid knowledge base: {exc}") from exc
