"""The FAQ over HTTP: confident answers, numbered suggestions and picks, an honest no, personal answers
from the user's real application, and a knowledge file reloaded without a redeploy."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import faq
from bot.simclient import WeChatUser
from tests.bot.test_application_http import CASES, fill
from tests.dialogs.conftest import TYPICAL


def test_a_common_question_gets_a_confident_answer(user):
    reply = user.text("上传不了，文件太大怎么办")
    assert "2M" in reply.text


def test_an_ambiguous_question_gets_numbered_suggestions_and_a_number_picks_one(user):
    suggest = user.text("照片")
    assert suggest.text.startswith("您是想问") and "1." in suggest.text and "3." in suggest.text
    picked = user.text("2")
    assert "2M" in picked.text  # the upload-format answer, the second suggestion
    # a number with no suggestions pending is not a pick: it goes to the FAQ as text
    again = user.text("2")
    assert again.text != picked.text


def test_an_unrelated_question_gets_an_honest_no_with_the_way_to_a_human(user):
    for question in ("今天深圳天气怎么样", "社保卡怎么补办"):  # a third in a row brings a human (hand-off tests)
        reply = user.text(question)
        assert "答不上来" in reply.text and "人工" in reply.text and "400-112-3838" in reply.text


def test_personal_answers_use_the_users_own_application(live, redis_client, user):
    user.text("申请证书")
    fill(user, redis_client, {**TYPICAL, **CASES["org"]})
    number = re.search(r"SZ\d{14}", user.text("确认").text).group(0)
    progress = user.text("审核到哪一步了")
    assert number in progress.text and "待上传资料" in progress.text
    invoice = user.text("发票在哪里下载")
    assert "深圳市电子商务安全证书管理有限公司" in invoice.text  # the invoice title from the form


def test_the_knowledge_file_reloads_without_a_redeploy(make_live, tmp_path):
    path = tmp_path / "knowledge.toml"
    shutil.copy(Path(faq.__file__).with_name("knowledge.toml"), path)
    server = make_live(faq_path=str(path))
    user = WeChatUser(server.url)
    question = "年底有没有续费优惠活动"
    assert "优惠活动一览" not in user.text(question).text
    path.write_text(path.read_text("utf-8") + '''
[[entries]]
id = "year_end_promo"
title = "年底续费优惠"
answer = "优惠活动一览：年底续费享九折，详情咨询 400-112-3838。"
examples = ["年底有优惠吗", "续费打折吗", "有没有优惠活动", "续费优惠", "年底活动", "现在办有折扣吗"]
keywords = ["优惠"]
''', "utf-8")
    future = time.time() + 5
    os.utime(path, (future, future))  # a new mtime even on coarse file systems
    time.sleep(1.1)  # the matcher checks the file at most once a second
    assert "优惠活动一览" in user.text(question).text
