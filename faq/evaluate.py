"""Evaluate the FAQ on the labelled question set: top-1 accuracy, out-of-scope rejection, suggestion share and
match time; `--sweep` refits the decision thresholds (see knowledge.toml) on one half and checks the other.

Run as `szca-bot faq-eval` or `python -m faq.evaluate [--eval PATH] [--kb PATH] [--sweep] [--show-misses]`.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faq.kb import OutOfScope, Thresholds
from faq.matcher import Decision, Matcher, Scored, decide
from faq.responder import Faq, from_environment

NONE_LABEL = "none"
DEFAULT_EVAL = Path(__file__).resolve().parent.parent / "tests" / "data" / "faq_eval.csv"

# Utility of each result, used by the threshold sweep: a confident wrong answer costs more than an honest
# "don't know", and most of all to an out-of-scope question.
GAIN_ANSWER_RIGHT = 1.0
GAIN_SUGGEST_HIT = 0.5
COST_ANSWER_WRONG = 2.0
COST_SUGGEST_MISS = 0.25
GAIN_OOS_NONE = 1.0
COST_OOS_ANSWER = 3.0


@dataclass(frozen=True)
class Item:
    question: str
    label: str  # an entry id, or "none" for out of scope

    @property
    def in_scope(self) -> bool:
        return self.label != NONE_LABEL

    @property
    def fold(self) -> str:
        """"fit" or "check": a stable split by question text, independent of file order."""
        return "fit" if zlib.crc32(self.question.encode()) % 2 == 0 else "check"


@dataclass
class Report:
    in_scope: int = 0
    out_of_scope: int = 0
    top1_correct: int = 0  # the best-ranked entry is the labelled one (whatever the outcome)
    answered_right: int = 0
    answered_wrong: int = 0
    suggested: int = 0  # in-scope questions answered with suggestions
    suggested_hit: int = 0  # ... where the labelled entry is among them
    oos_none: int = 0
    oos_none_without_list: int = 0  # ... had knowledge.toml's out_of_scope phrase list been empty
    oos_suggested: int = 0
    oos_answered: int = 0
    times_ms: list[float] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @staticmethod
    def _share(part: int, whole: int) -> float:
        return part / whole if whole else 0.0

    @property
    def top1_accuracy(self) -> float:
        return self._share(self.top1_correct, self.in_scope)

    @property
    def answer_accuracy(self) -> float:
        return self._share(self.answered_right, self.in_scope)

    @property
    def suggest_share(self) -> float:
        return self._share(self.suggested, self.in_scope)

    @property
    def oos_rejection(self) -> float:
        return self._share(self.oos_none, self.out_of_scope)

    @property
    def oos_not_answered(self) -> float:
        return self._share(self.oos_none + self.oos_suggested, self.out_of_scope)

    def percentile_ms(self, p: float) -> float:
        if not self.times_ms:
            return 0.0
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def lines(self) -> list[str]:
        return [
            f"questions: {self.in_scope} in scope, {self.out_of_scope} out of scope",
            f"top-1 accuracy (in scope):            {self.top1_accuracy:6.1%}",
            f"  answered confidently and right:     {self.answer_accuracy:6.1%}",
            f"  answered with suggestions:          {self.suggest_share:6.1%}"
            f" (right entry among them: {self._share(self.suggested_hit, self.suggested):.0%})",
            f"  confident wrong answers:            {self.answered_wrong}",
            f"out-of-scope correctly not answered:  {self.oos_rejection:6.1%}"
            f" (no confident answer: {self.oos_not_answered:.1%}; suggestions: {self.oos_suggested},"
            f" confident answers: {self.oos_answered})",
            f"  without the out-of-scope phrase list (scores alone): "
            f"{self._share(self.oos_none_without_list, self.out_of_scope):.1%}",
            f"match time per question: p50 {self.percentile_ms(50):.3f} ms, p99 {self.percentile_ms(99):.3f} ms",
        ]


def load_items(path: Path = DEFAULT_EVAL) -> list[Item]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [Item(row["question"].strip(), row["label"].strip()) for row in csv.DictReader(fh)]


def _tally(report: Report, item: Item, decision: Decision, without_list: Decision) -> None:
    top = decision.top.entry_id if decision.top else NONE_LABEL
    if item.in_scope:
        report.in_scope += 1
        report.top1_correct += top == item.label
        if decision.outcome == "answer":
            if top == item.label:
                report.answered_right += 1
            else:
                report.answered_wrong += 1
                report.misses.append(f"WRONG   {item.question!r}: {top} (want {item.label})")
        elif decision.outcome == "suggest":
            report.suggested += 1
            hit = item.label in decision.suggestions
            report.suggested_hit += hit
            if not hit:
                report.misses.append(f"SUGGEST {item.question!r}: {decision.suggestions} (want {item.label})")
        else:
            report.misses.append(f"NONE    {item.question!r}: best {top} (want {item.label})")
    else:
        report.out_of_scope += 1
        report.oos_none_without_list += without_list.outcome == "none"
        if decision.outcome == "none":
            report.oos_none += 1
        elif decision.outcome == "suggest":
            report.oos_suggested += 1
            report.misses.append(f"OOS-SUG {item.question!r}: {decision.suggestions}")
        else:
            report.oos_answered += 1
            report.misses.append(f"OOS-ANS {item.question!r}: {top}")


def evaluate(
    faq: Faq, path: Path = DEFAULT_EVAL, items: Sequence[Item] | None = None, thresholds: Thresholds | None = None
) -> Report:
    """Run every labelled question through the FAQ's matcher and thresholds (or the given ones); times each."""
    report = Report()
    thresholds = thresholds or faq.kb.thresholds
    bare = Matcher(faq.kb.model_copy(update={"out_of_scope": OutOfScope()}))
    for item in items if items is not None else load_items(path):
        start = time.perf_counter()
        decision = decide(faq.matcher.rank(item.question), thresholds)
        report.times_ms.append((time.perf_counter() - start) * 1000)
        without_list = decide(bare.rank(item.question), thresholds) if not item.in_scope else decision
        _tally(report, item, decision, without_list)
    return report


def utility(ranked_items: Iterable[tuple[Item, tuple[Scored, ...]]], thresholds: Thresholds) -> float:
    total = 0.0
    for item, ranked in ranked_items:
        decision = decide(ranked, thresholds)
        top = decision.top.entry_id if decision.top else None
        if item.in_scope:
            if decision.outcome == "answer":
                total += GAIN_ANSWER_RIGHT if top == item.label else -COST_ANSWER_WRONG
            elif decision.outcome == "suggest":
                total += GAIN_SUGGEST_HIT if item.label in decision.suggestions else -COST_SUGGEST_MISS
        elif decision.outcome == "none":
            total += GAIN_OOS_NONE
        elif decision.outcome == "answer":
            total -= COST_OOS_ANSWER
    return total


def sweep(faq: Faq, items: Sequence[Item]) -> tuple[Thresholds, float]:
    """Grid search of (answer, margin, suggest) maximising the utility on `items`; ties go to the more cautious
    (higher) thresholds."""
    ranked = [(item, faq.matcher.rank(item.question)) for item in items]
    best: tuple[float, tuple[float, float, float]] | None = None
    for answer in range(20, 96):
        for margin in range(0, 21, 2):
            for suggest in range(16, answer + 1, 2):
                candidate = Thresholds(answer=answer, margin=margin, suggest=suggest)
                key = (utility(ranked, candidate), (answer, margin, suggest))
                if best is None or key > best:
                    best = key
    assert best is not None
    answer, margin, suggest = best[1]
    return Thresholds(answer=answer, margin=margin, suggest=suggest), best[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="szca-bot faq-eval", description=__doc__)
    parser.add_argument("--eval", type=Path, default=DEFAULT_EVAL, help="labelled questions (CSV question,label)")
    parser.add_argument("--kb", type=Path, default=None, help="knowledge base TOML (default: FAQ_PATH or packaged)")
    parser.add_argument("--sweep", action="store_true", help="refit the thresholds on the fit half and report")
    parser.add_argument("--show-misses", action="store_true", help="list every question not answered right")
    args = parser.parse_args(argv)

    faq = Faq(args.kb) if args.kb else from_environment()
    items = load_items(args.eval)
    print(f"knowledge base: {faq.path} ({len(faq.kb.entries)} entries); eval set: {args.eval}")
    t = faq.kb.thresholds
    print(f"thresholds in use: answer {t.answer:g}, margin {t.margin:g}, suggest {t.suggest:g}")
    report = evaluate(faq, items=items)
    print("\n".join(report.lines()))
    if args.show_misses:
        print("\n".join(report.misses) or "no misses")
    if args.sweep:
        fit = [i for i in items if i.fold == "fit"]
        check = [i for i in items if i.fold == "check"]
        chosen, score = sweep(faq, fit)
        print(
            f"\nsweep on {len(fit)} fit questions: answer {chosen.answer:g}, margin {chosen.margin:g},"
            f" suggest {chosen.suggest:g} (utility {score:g})"
        )
        for name, subset in (("fit", fit), ("held-out check", check)):
            print(f"-- {name} half with these thresholds --")
            print("\n".join(evaluate(faq, items=subset, thresholds=chosen).lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
