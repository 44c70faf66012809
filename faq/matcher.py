"""Fuzzy matching of a question against the knowledge base: normalise, expand synonyms, score with rapidfuzz.

Chinese is compared on characters and character bigrams (no word segmentation). Everything that depends only on
the knowledge base (normalised examples, the bigram vocabulary, the regexes) is computed once at load so a
question costs well under a millisecond.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from rapidfuzz import fuzz, process

from faq.kb import KnowledgeBase, Thresholds

Outcome = Literal["answer", "suggest", "none"]

MAX_SUGGESTIONS = 3
# Scoring: an entry's score mixes the best fuzz.ratio against its examples (typos, word order) with how much of
# the question's idf-weighted bigrams the entry covers at all (paraphrases), and is damped when the question is
# mostly words the knowledge base has never seen (out of scope). The weights were compared on the evaluation set
# (partial_ratio was tried and added nothing); the decision thresholds on this scale live in knowledge.toml and
# are fitted by `python -m faq.evaluate --sweep`.
KEYWORD_BONUS = 8.0  # an ops-declared keyword present in the question
UNKNOWN_PENALTY = 0.5  # share of the score lost when none of the question's bigrams occurs anywhere in the KB
COVERAGE_WEIGHT = 0.4  # share of the score from how much of the question (idf-weighted bigrams) the entry covers

_SPACE_NEAR_CJK = re.compile(r"\s+(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])\s+")
_NOT_WORD = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


def _word_pattern(phrases: list[str]) -> re.Pattern[str]:
    """One alternation, longest phrase first; latin ends only match at word boundaries (so "ca" not in "szca")."""
    parts = []
    for phrase in sorted(set(phrases), key=len, reverse=True):
        part = re.escape(phrase)
        if phrase[0].isascii() and phrase[0].isalnum():
            part = r"(?<![a-z0-9])" + part
        if phrase[-1].isascii() and phrase[-1].isalnum():
            part += r"(?![a-z0-9])"
        parts.append(part)
    return re.compile("|".join(parts) if parts else r"(?!)")


class Normaliser:
    """Text -> canonical comparison form: NFKC (full-width to half-width), lower case, synonyms, no punctuation or
    filler words, no spaces."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self._canonical: dict[str, str] = {}
        for group in kb.synonyms:
            for variant in (*group.variants, group.canonical):
                self._canonical[self._prepare(variant)] = group.canonical
        self._synonyms = _word_pattern(list(self._canonical))
        self._fillers = _word_pattern([self._prepare(f) for f in kb.normalise.fillers])
        self._canonical_forms = frozenset(self._canonical.values())
        phrases = [self._prepare(p) for p in kb.out_of_scope.phrases]
        self._foreign = _word_pattern(phrases) if phrases else None

    @staticmethod
    def _prepare(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        return _SPACE_NEAR_CJK.sub("", " ".join(text.split()))

    def names_out_of_scope(self, text: str) -> bool:
        """True if the text names something the knowledge base declares out of scope (another CA, 社保 …)."""
        return self._foreign is not None and self._foreign.search(self._prepare(text)) is not None

    def __call__(self, text: str) -> str:
        """The comparison form; empty for a question that names something declared out of scope."""
        if self.names_out_of_scope(text):
            return ""
        text = self._prepare(text)
        text = self._synonyms.sub(lambda m: f" {self._canonical[m.group(0)]} ", text)
        # Fillers are removed token by token so a filler never eats into a canonical synonym.
        out = []
        for token in _NOT_WORD.sub(" ", text).split():
            if token in self._canonical_forms:
                out.append(token)
            else:
                out.append(self._fillers.sub("", token))
        return "".join(out)


def bigrams(text: str) -> set[str]:
    if len(text) < 2:
        return {text} if text else set()
    return {text[i : i + 2] for i in range(len(text) - 1)}


@dataclass(frozen=True)
class Scored:
    entry_id: str
    score: float


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    ranked: tuple[Scored, ...]  # best first; for "suggest" the first len(suggestions) are the suggestions
    suggestions: tuple[str, ...] = ()

    @property
    def top(self) -> Scored | None:
        return self.ranked[0] if self.ranked else None


class Matcher:
    """Ranks the entries of one knowledge base for a question; immutable, rebuilt on reload."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.normalise = Normaliser(kb)
        self._ids = [entry.id for entry in kb.entries]
        texts: list[str] = []
        owners: list[int] = []
        for index, entry in enumerate(kb.entries):
            for text in {self.normalise(t) for t in (entry.title, *entry.examples)}:
                if text:
                    texts.append(text)
                    owners.append(index)
        self._texts = texts
        self._owners = owners
        self._keywords = [
            tuple(k for k in {self.normalise(kw) for kw in entry.keywords} if len(k) >= 2) for entry in kb.entries
        ]
        self._entry_grams: list[set[str]] = [set() for _ in kb.entries]
        for text, owner in zip(texts, owners):
            self._entry_grams[owner] |= bigrams(text)
        for owner, keywords in enumerate(self._keywords):
            for keyword in keywords:
                self._entry_grams[owner] |= bigrams(keyword)
        self._vocabulary: set[str] = set().union(*self._entry_grams)
        # idf over entries: a bigram every entry has ("证书") says little; one no entry has weighs the most.
        n = len(kb.entries)
        self._unknown_idf = math.log(n + 1)
        self._idf = {
            g: math.log((n + 1) / (1 + sum(g in grams for grams in self._entry_grams))) + 0.1 for g in self._vocabulary
        }

    def rank(self, text: str) -> tuple[Scored, ...]:
        """All entries with a positive score, best first."""
        query = self.normalise(text)
        if not query:
            return ()
        best = [0.0] * len(self._ids)
        owners = self._owners
        for _, score, i in process.extract(query, self._texts, scorer=fuzz.ratio, limit=None, score_cutoff=1):
            if score > best[owners[i]]:
                best[owners[i]] = score
        for index, keywords in enumerate(self._keywords):
            if best[index] and any(k in query for k in keywords):
                best[index] = min(100.0, best[index] + KEYWORD_BONUS)
        grams = bigrams(query)
        weights = {g: self._idf.get(g, self._unknown_idf) for g in grams}
        total = sum(weights.values())
        known = sum(w for g, w in weights.items() if g in self._vocabulary) / total
        factor = 1.0 - UNKNOWN_PENALTY * (1.0 - known)
        scored = []
        for i, fuzzy in enumerate(best):
            if fuzzy <= 0:
                continue
            covered = sum(w for g, w in weights.items() if g in self._entry_grams[i]) / total
            score = (1 - COVERAGE_WEIGHT) * fuzzy + COVERAGE_WEIGHT * 100 * covered
            scored.append(Scored(self._ids[i], round(score * factor, 2)))
        scored.sort(key=lambda s: -s.score)
        return tuple(scored)


def decide(ranked: tuple[Scored, ...], thresholds: Thresholds) -> Decision:
    """The three outcomes, from the ranked scores and the fitted thresholds."""
    if not ranked or ranked[0].score < thresholds.suggest:
        return Decision("none", ranked)
    runner_up = ranked[1].score if len(ranked) > 1 else 0.0
    if ranked[0].score >= thresholds.answer and ranked[0].score - runner_up >= thresholds.margin:
        return Decision("answer", ranked)
    suggestions = tuple(s.entry_id for s in ranked[:MAX_SUGGESTIONS] if s.score >= thresholds.suggest)
    return Decision("suggest", ranked, suggestions)
