"""The knowledge base file: validation, coverage of the required topics, reload on change, broken files."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from faq import Faq, FaqProfile, KbError
from faq.kb import DEFAULT_PATH, MIN_EXAMPLES, PROFILE_FIELDS, load

REQUIRED_TOPICS = {
    "progress", "approved", "rejected", "telecom_realname", "delivery", "shipping_time", "pin", "invoice",
    "financial_auth_failed", "legal_person_auth", "random_code", "penny_transfer", "docs_org", "docs_org_personal",
    "docs_natural", "stamping", "seal_form", "seal_form_template", "e_seal", "upload_format", "review_time", "price",
    "years", "payment_methods", "corporate_transfer", "transfer_voucher", "liveness", "cert_types", "refund",
    "hotline",
}  # fmt: skip


def test_packaged_knowledge_base_is_valid_and_covers_the_required_topics():
    kb = load(DEFAULT_PATH)
    ids = [entry.id for entry in kb.entries]
    assert 40 <= len(ids) <= 60
    assert len(set(ids)) == len(ids)
    assert REQUIRED_TOPICS <= set(ids)
    for entry in kb.entries:
        assert len(entry.examples) >= MIN_EXAMPLES, entry.id
        assert len(entry.answer) <= 220, f"{entry.id}: too long for a phone screen"


def test_the_kb_knows_every_profile_field_an_answer_may_use():
    assert PROFILE_FIELDS == {f.name for f in fields(FaqProfile)}


def test_hotline_and_site_are_where_people_look_for_them():
    kb = load(DEFAULT_PATH).by_id()
    assert "400-112-3838" in kb["hotline"].answer
    assert "www.szca.com" in kb["website"].answer
    assert "400-112-3838" in load(DEFAULT_PATH).messages.no_match


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    # make the change visible even on file systems with coarse timestamps
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


MINIMAL = """
[thresholds]
answer = 23.0
margin = 6.0
suggest = 22.0
[messages]
suggest_header = "您是想问："
suggest_footer = "请回复序号。"
no_match = "抱歉，回复“人工”或拨打 400-112-3838。"
[[entries]]
id = "invoice"
title = "发票怎么获取"
answer = "{answer}"
examples = ["发票怎么获取", "发票在哪里下载", "怎么开发票", "电子发票发到哪", "我要发票", "发票还没收到"]
"""


def test_duplicate_ids_and_too_few_examples_are_rejected(tmp_path):
    text = MINIMAL.replace("{answer}", "A")
    bad = tmp_path / "dup.toml"
    bad.write_text(text + text[text.index("[[entries]]") :], encoding="utf-8")
    with pytest.raises(KbError, match="duplicate entry id"):
        load(bad)
    short = tmp_path / "short.toml"
    short.write_text(text.replace(', "我要发票", "发票还没收到"', ""), encoding="utf-8")
    with pytest.raises(KbError, match="examples"):
        load(short)


def test_unknown_placeholder_in_a_variant_is_rejected(tmp_path):
    path = tmp_path / "kb.toml"
    path.write_text(
        MINIMAL.replace("{answer}", "A") + '[[entries.variants]]\nwhen = { invoice_title = "*" }\nanswer = "{title}"\n',
        encoding="utf-8",
    )
    with pytest.raises(KbError, match="unknown placeholders"):
        load(path)


def test_reload_picks_up_an_edit(tmp_path):
    path = tmp_path / "kb.toml"
    _write(path, MINIMAL.replace("{answer}", "旧答案"))
    faq = Faq(path)
    assert faq.ask("发票怎么获取").text == "旧答案"
    assert faq.reload() is False  # unchanged
    _write(path, MINIMAL.replace("{answer}", "新答案：短信里有电子发票下载链接"))
    assert faq.reload() is True
    assert faq.ask("发票怎么获取").text.startswith("新答案")
    assert faq.reload() is False


def test_ask_notices_the_edit_by_itself(tmp_path, monkeypatch):
    path = tmp_path / "kb.toml"
    _write(path, MINIMAL.replace("{answer}", "旧答案"))
    faq = Faq(path)
    faq.ask("发票")
    _write(path, MINIMAL.replace("{answer}", "新答案"))
    monkeypatch.setattr("faq.responder.AUTO_RELOAD_INTERVAL", 0.0)
    faq._next_check = 0.0
    assert faq.ask("发票怎么获取").text == "新答案"


def test_broken_file_keeps_the_old_knowledge_base(tmp_path, caplog):
    path = tmp_path / "kb.toml"
    shutil.copy(DEFAULT_PATH, path)
    faq = Faq(path)
    before = faq.ask("PIN码怎么获取")
    _write(path, path.read_text(encoding="utf-8") + "\n[[entries]]\nid = \"broken\n")
    with caplog.at_level(logging.ERROR, logger="faq.responder"):
        assert faq.reload() is False
    assert "keeping the previous one" in caplog.text
    assert faq.ask("PIN码怎么获取") == before
    caplog.clear()
    assert faq.reload() is False  # the same broken file is not re-read and re-logged
    assert caplog.text == ""
    _write(path, MINIMAL.replace("{answer}", "修好了"))
    assert faq.reload() is True
    assert faq.ask("发票怎么获取").text == "修好了"


def test_invalid_entries_also_keep_the_old_knowledge_base(tmp_path):
    path = tmp_path / "kb.toml"
    _write(path, MINIMAL.replace("{answer}", "旧答案"))
    faq = Faq(path)
    _write(path, MINIMAL.replace("{answer}", "旧答案").replace('"我要发票", ', ""))  # 5 examples: invalid
    assert faq.reload() is False
    assert faq.ask("发票怎么获取").text == "旧答案"


def test_entry_lookup():
    faq = Faq()
    assert faq.entry("pin").title
    with pytest.raises(KeyError):
        faq.entry("no_such_entry")
