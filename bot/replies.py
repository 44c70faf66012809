"""What a handler answers with: small shapes the gateway renders as a passive reply or pushes as
customer-service messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Union


@dataclass(frozen=True)
class Text:
    content: str


@dataclass(frozen=True)
class Image:
    """An image already on WeChat's side (media_id), or one a job makes and uploads first: a QR code of a
    link (for applicants who open it on a PC) or a file of ours."""

    media_id: str | None = None
    path: str | None = None
    qr: str | None = None


@dataclass(frozen=True)
class Article:
    title: str
    description: str
    url: str
    image: str = ""


@dataclass(frozen=True)
class News:
    articles: tuple[Article, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Transfer:
    """Hand the conversation to WeChat's customer-service agents."""

    kf_account: str | None = None


Reply = Union[Text, Image, News, Transfer]
_KINDS = {"text": Text, "image": Image, "news": News, "transfer": Transfer}


def passive_ok(reply: Reply) -> bool:
    """Only what needs no API call of ours can go back inside the 5-second callback answer."""
    return not (isinstance(reply, Image) and reply.media_id is None)


def to_wire(reply: Reply) -> dict[str, Any]:
    kind = next(k for k, cls in _KINDS.items() if isinstance(reply, cls))
    return {"kind": kind, **asdict(reply)}


def from_wire(data: dict[str, Any]) -> Reply:
    data = dict(data)
    cls = _KINDS[data.pop("kind")]
    if cls is News:
        return News(tuple(Article(**a) for a in data["articles"]))
    return cls(**data)
