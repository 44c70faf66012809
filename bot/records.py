"""Application records: business records with a history, not chat state (they outlive the conversation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

# The lifecycle's first states; the after-submission issue adds the transitions beyond documents.
STATUS_TEXT = {
    "documents": "待上传资料",
    "identity": "待身份认证",
    "payment": "待缴费",
    "financial_auth": "金融认证中",
    "financial_auth_failed": "金融认证失败",
    "code": "待输入随机码",
    "review": "待审核",
    "approved": "审核通过",
    "rejected": "已驳回",
    "shipped": "已寄出",
    "refunded": "已退费",
}


class HistoryEntry(BaseModel):
    at: datetime
    by: str
    status: str
    note: str = ""


class Upload(BaseModel):
    """One accepted document: where its bytes are and what they were."""

    doc: str
    key: str  # file-store key
    kind: str  # jpg | png | gif | bmp | pdf
    size: int
    sha256: str
    at: datetime


class ApplicationRecord(BaseModel):
    v: int = 1
    number: str
    openid: str
    status: str
    platform: str
    cert_type: str
    created_at: datetime
    updated_at: datetime
    data: dict[str, Any]
    history: list[HistoryEntry] = Field(default_factory=list)
    uploads: dict[str, Upload] = Field(default_factory=dict)
    # Personal data is kept for a period after the last change, then purged with its files.
    retain_until: datetime | None = None

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)
