"""The labelled evaluation set and the floors the FAQ must keep (figures printed by `szca-bot faq-eval`)."""

from __future__ import annotations

import subprocess
import sys

from faq import Faq
from faq.evaluate import DEFAULT_EVAL, NONE_LABEL, evaluate, load_items, main, sweep, utility

FAQ = Faq()
ITEMS = load_items(DEFAULT_EVAL)

# The floors reached on 2026-11-24 (50 entries, 277 questions): top-1 96.8 %, 2 confident wrong answers in scope,
# out-of-scope rejection 92.7 % (83.6 % without the out-of-scope phrase list), 1 confident out-of-scope answer.
TOP1_FLOOR = 0.965
OOS_REJECTION_FLOOR = 0.90
OOS_REJECTION_WITHOUT_LIST_FLOOR = 0.80
MAX_CONFIDENT_WRONG = 2
MAX_OOS_CONFIDENT = 1


def test_eval_set_is_big_enough_and_labelled_with_real_entries():
    in_scope = [i for i in ITEMS if i.in_scope]
    out_of_scope = [i for i in ITEMS if not i.in_scope]
    assert len(ITEMS) >= 200 and len(out_of_scope) >= 40
    ids = {entry.id for entry in FAQ.kb.entries}
    assert {i.label for i in in_scope} <= ids
    assert all(i.label == NONE_LABEL for i in out_of_scope)
    assert len({i.question for i in ITEMS}) == len(ITEMS), "duplicate questions"


def test_eval_questions_are_not_copies_of_the_examples():
    normalise = FAQ.matcher.normalise
    examples = {normalise(text) for entry in FAQ.kb.entries for text in (entry.title, *entry.examples)}
    copies = [i.question for i in ITEMS if normalise(i.question) and normalise(i.question) in examples]
    assert copies == []


def test_accuracy_does_not_drop_below_the_floor():
    report = evaluate(FAQ, items=ITEMS)
    misses = "\n".join(report.misses)
    assert report.top1_accuracy >= TOP1_FLOOR, misses
    assert report.answered_wrong <= MAX_CONFIDENT_WRONG, misses
    assert report.oos_rejection >= OOS_REJECTION_FLOOR, misses
    assert report.oos_answered <= MAX_OOS_CONFIDENT, misses
    assert report.oos_none_without_list / report.out_of_scope >= OOS_REJECTION_WITHOUT_LIST_FLOOR, misses


def test_stored_thresholds_are_still_what_the_sweep_would_choose():
    """knowledge.toml's thresholds came from the sweep on the fit half; after edits to the entries they must be
    refitted (python -m faq.evaluate --sweep) if they have drifted from the optimum."""
    fit = [i for i in ITEMS if i.fold == "fit"]
    best, best_utility = sweep(FAQ, fit)
    stored = utility([(i, FAQ.matcher.rank(i.question)) for i in fit], FAQ.kb.thresholds)
    assert stored >= best_utility - 2, f"refit: the sweep now chooses {best}"


def test_main_prints_the_figures(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    for figure in ("top-1 accuracy", "out-of-scope correctly not answered", "suggestions", "p50", "p99"):
        assert figure in out


def test_runs_as_a_module():
    done = subprocess.run(
        [sys.executable, "-m", "faq.evaluate"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "top-1 accuracy" in done.stdout
