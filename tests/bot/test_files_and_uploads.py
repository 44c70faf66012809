"""The file store refuses escaping keys; uploads are checked by content, size and a safe decode."""

from __future__ import annotations

import io
import zlib
import struct

import pytest
from hypothesis import given, strategies as st
from PIL import Image

from bot.files import BadKey, LocalFileStore
from bot.uploads import MAX_BYTES, MSG_BROKEN, MSG_HUGE, MSG_PDF_ACTIVE, MSG_TOO_BIG, MSG_TYPE, UploadRejected, inspect


def _image(fmt: str, size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, fmt)
    return buf.getvalue()


def test_store_round_trip_and_delete_prefix(tmp_path):
    store = LocalFileStore(tmp_path)
    store.put("apps/SZ1/licence.jpg", b"abc")
    store.put("apps/SZ1/form.pdf", b"def")
    assert store.get("apps/SZ1/licence.jpg") == b"abc"
    assert store.delete_prefix("apps/SZ1") == 2
    assert store.get("apps/SZ1/licence.jpg") is None


@pytest.mark.parametrize("key", ["../etc/passwd", "apps/../../x", "/abs/path", "apps//x", "apps/.hidden", "a\\b", "a/..", ""])
def test_store_refuses_keys_that_could_escape(tmp_path, key):
    with pytest.raises(BadKey):
        LocalFileStore(tmp_path).put(key, b"x")
    assert list(tmp_path.iterdir()) == []


@given(st.text(min_size=1, max_size=40))
def test_no_key_ever_resolves_outside_the_root(key):
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp())
    store = LocalFileStore(root / "store")
    try:
        store.put(key, b"x")
    except BadKey:
        return
    written = [p for p in root.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to((root / "store").resolve()) for p in written)


@pytest.mark.parametrize("fmt,kind", [("JPEG", "jpg"), ("PNG", "png"), ("GIF", "gif"), ("BMP", "bmp")])
def test_images_are_accepted_by_content(fmt, kind):
    checked = inspect(_image(fmt))
    assert checked.kind == kind and (checked.width, checked.height) == (64, 48)


def test_a_plain_pdf_is_accepted():
    pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert inspect(pdf).kind == "pdf"


def test_a_pdf_with_javascript_is_refused():
    pdf = b"%PDF-1.4\n1 0 obj<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>endobj\n%%EOF\n"
    with pytest.raises(UploadRejected) as err:
        inspect(pdf)
    assert err.value.message == MSG_PDF_ACTIVE


def test_a_pdf_posing_as_an_image_is_refused():
    fake = b"\xff\xd8\xff\xe0" + b"%PDF-1.4 not really a jpeg %%EOF"
    with pytest.raises(UploadRejected) as err:
        inspect(fake)
    assert err.value.message == MSG_BROKEN


def test_unknown_types_and_oversize_are_refused():
    with pytest.raises(UploadRejected) as err:
        inspect(b"PK\x03\x04 zip file")
    assert err.value.message == MSG_TYPE
    with pytest.raises(UploadRejected) as err:
        inspect(b"\xff\xd8\xff" + b"0" * MAX_BYTES)
    assert err.value.message == MSG_TOO_BIG


def test_a_truncated_image_is_refused():
    data = _image("PNG", (300, 300))
    with pytest.raises(UploadRejected) as err:
        inspect(data[: len(data) // 2])
    assert err.value.message == MSG_BROKEN


def _png_bomb(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge canvas of zeros: decompresses to width*height bytes."""
    raw = zlib.compress(b"\x00" * (width + 1) * 64, 9)  # only a few rows present; the header is what matters

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding():
    bomb = _png_bomb(50_000, 50_000)
    assert len(bomb) < 10_000
    with pytest.raises(UploadRejected) as err:
        inspect(bomb)
    assert err.value.message == MSG_HUGE
