"""Checks on an uploaded file before we keep it: the type by its content, the hall's 2 MB limit, and a safe
decode (a pixel limit against decompression bombs, a full load against truncated or disguised files)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_BYTES = 2 * 1024 * 1024  # the online hall's limit ("图片大小不超过2M")
MAX_PIXELS = 40_000_000  # a phone photo is ~12 MP; far above that is a bomb, not a document

_MAGIC = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"%PDF-", "pdf"),
)
_PIL_FORMAT = {"jpg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP"}
# Active content has no place in a scanned form; refuse rather than store it for staff to open.
_PDF_ACTIVE = (b"/JavaScript", b"/JS", b"/Launch", b"/EmbeddedFile", b"/OpenAction")

MSG_EMPTY = "文件是空的，请重新发送。"
MSG_TOO_BIG = "文件超过2M，请压缩后重新发送（手机截图或“压缩图片”即可）。"
MSG_TYPE = "只支持 JPG、PNG、GIF、BMP 图片或 PDF 文件，请重新发送。"
MSG_BROKEN = "文件打不开或已损坏，请重新拍照或重新导出后发送。"
MSG_HUGE = "图片像素过大，请用手机正常拍照后发送。"
MSG_PDF_ACTIVE = "这个PDF含有脚本等活动内容，无法接收，请直接拍照或重新扫描后发送。"


class UploadRejected(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Checked:
    kind: str  # jpg | png | gif | bmp | pdf
    size: int
    width: int = 0
    height: int = 0

    @property
    def extension(self) -> str:
        return self.kind


def sniff(data: bytes) -> str | None:
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


def inspect(data: bytes) -> Checked:
    if not data:
        raise UploadRejected(MSG_EMPTY)
    if len(data) > MAX_BYTES:
        raise UploadRejected(MSG_TOO_BIG)
    kind = sniff(data)
    if kind is None:
        raise UploadRejected(MSG_TYPE)
    if kind == "pdf":
        return _inspect_pdf(data)
    return _inspect_image(data, kind)


def _inspect_pdf(data: bytes) -> Checked:
    if b"%%EOF" not in data[-2048:]:
        raise UploadRejected(MSG_BROKEN)
    if any(marker in data for marker in _PDF_ACTIVE):
        raise UploadRejected(MSG_PDF_ACTIVE)
    return Checked("pdf", len(data))


def _inspect_image(data: bytes, kind: str) -> Checked:
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make every excess an error.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.format != _PIL_FORMAT[kind]:
                    raise UploadRejected(MSG_TYPE)
                width, height = img.size
                if width * height > MAX_PIXELS:
                    raise UploadRejected(MSG_HUGE)
                img.load()  # decode fully: a truncated or disguised file fails here, not in staff's viewer
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadRejected(MSG_HUGE) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            raise UploadRejected(MSG_BROKEN) from None
    return Checked(kind, len(data), width, height)
