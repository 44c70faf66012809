"""The documents step: what an application still needs, recognising which document a photo is, keeping it.

Which documents a platform and certificate type need comes from the catalogue (dialogs/catalogue.toml),
resolved into the application when it was confirmed.  Bytes go to the file store, the record keeps a small
reference per document; a bad file never replaces a good one.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from stdnum.cn import uscc as uscc_check

from bot.files import FileStore
from bot.providers.ocr import Ocr, OcrError
from bot.records import ApplicationRecord, Upload
from bot.store import Store
from bot.uploads import Checked
from dialogs import catalogue

log = logging.getLogger(__name__)

# Until the application goes to review, a document may be replaced (as in the hall's 上一步).
OPEN_FOR_UPLOADS = frozenset({"documents", "identity", "payment", "rejected"})


def required(record: ApplicationRecord) -> list[str]:
    return list(record.data.get("documents") or [])


def missing(record: ApplicationRecord) -> list[str]:
    return [d for d in required(record) if d not in record.uploads]


def short_name(doc: str) -> str:
    c = catalogue.load()
    return c.document_short_names.get(doc) or c.document_names.get(doc, doc)


def long_name(doc: str) -> str:
    return catalogue.load().document_names.get(doc, doc)


def checklist(record: ApplicationRecord) -> str:
    """One line per required document: done or still to send (for 我的申请 and acknowledgements)."""
    return "\n".join(f"   {'✓' if d in record.uploads else '✗'} {short_name(d)}" for d in required(record))


def still_needed_text(record: ApplicationRecord) -> str:
    left = missing(record)
    if not left and record.status == "rejected":
        return "资料已补齐 ✓ 回复“重新提交”即可再次送审。"
    if not left:
        return "资料已齐全 ✓ 下一步：经办人身份认证（身份证正反面 + 活体检测）。"
    return "还需要：" + "、".join(short_name(d) for d in left) + "。直接发照片即可。"


def choice_question(options: list[str]) -> str:
    items = " ".join(f"{i} {short_name(d)}" for i, d in enumerate(options, 1))
    return f"这张是：{items}？请回复序号。"


def parse_choice(text: str, options: list[str]) -> str | None:
    t = text.strip().rstrip("。.")
    if t.isdigit() and 1 <= int(t) <= len(options):
        return options[int(t) - 1]
    for doc in options:
        if t and (t == short_name(doc) or t in short_name(doc) and len(t) >= 2):
            return doc
    return None


def recognise(ocr: Ocr, record: ApplicationRecord, data: bytes, candidates: list[str]) -> str | None:
    """Name the document by what is on it, only when sure: a licence showing this unit's credit code."""
    if "business_licence" not in candidates or not record.data.get("unit"):
        return None
    try:
        fields = ocr.licence(data)
    except OcrError:
        return None
    code = (fields.uscc or "").upper()
    if uscc_check.is_valid(code) and code == record.data["unit"].get("id_number"):
        return "business_licence"
    return None


def file_key(number: str, doc: str, checked: Checked, digest: str) -> str:
    return f"apps/{number}/{doc}-{digest[:12]}.{checked.extension}"


def accept(store: Store, files: FileStore, number: str, doc: str, data: bytes, checked: Checked,
           now: datetime, retention_days: int) -> tuple[ApplicationRecord, bool]:
    """Keep `data` as document `doc`; returns the record and whether anything changed.

    The same bytes twice (a job run again, a photo sent twice) change nothing; new bytes replace the old
    document only after they are stored, and the old file is removed last.
    """
    digest = hashlib.sha256(data).hexdigest()
    key = file_key(number, doc, checked, digest)
    files.put(key, data)
    replaced: list[str] = []

    def change(record: ApplicationRecord) -> None:
        current = record.uploads.get(doc)
        if current is not None and current.sha256 == digest:
            return
        if record.status not in OPEN_FOR_UPLOADS:
            raise UploadsClosed(record.status)
        if current is not None and current.key != key:
            replaced.append(current.key)
        record.uploads[doc] = Upload(doc=doc, key=key, kind=checked.kind, size=checked.size, sha256=digest, at=now)
        record.updated_at = now
        record.retain_until = now + timedelta(days=retention_days)

    before = store.record(number)
    record = store.update_record(number, change)
    for old in replaced:
        files.delete_prefix(old)
    changed = before is None or before.uploads.get(doc) != record.uploads.get(doc)
    return record, changed


class UploadsClosed(Exception):
    """The application is past the point where documents may change (in review, approved …)."""


def purge_expired(store: Store, files: FileStore, now: datetime) -> int:
    """Delete records (and their files) whose retention has run out; returns how many."""
    purged = 0
    for number in store.record_numbers():
        record = store.record(number)
        if record is None or record.retain_until is None or record.retain_until > now:
            continue
        files.delete_prefix(f"apps/{number}")
        files.delete_prefix(f"pending/{number}")
        store.delete_record(record)
        purged += 1
        log.info("purged application %s after its retention period", number)
    return purged
