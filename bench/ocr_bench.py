"""Offline OCR on synthetic photos: time per photo and share of fields read exactly, per document kind."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import asdict
from datetime import date
from pathlib import Path

if __package__ in (None, ""):  # `python bench/ocr_bench.py` as well as `python -m bench.ocr_bench`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.providers.ocr import LocalOcr, OcrError  # noqa: E402
from tests.support.synthetic_docs import MAKERS, NO_FONT_REASON, find_font, generate  # noqa: E402

# The fields the application form takes from each photo; the others are reported apart.
FORM_FIELDS = {
    "licence": ("name", "uscc", "address", "legal_person"),
    "id_front": ("name", "id_number"),
    "id_back": ("issuer", "valid_from", "valid_to"),
}


def as_text(value: object) -> str:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, date) else str(value)


def read(ocr: LocalOcr, kind: str, image: bytes) -> dict[str, str]:
    try:
        fields = asdict(getattr(ocr, kind)(image))
    except OcrError:
        return {}
    return {name: as_text(value) for name, value in fields.items() if name != "confidence"}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=20, help="photos per kind")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (tests use 0..)")
    parser.add_argument("--harsh", action="store_true", help="smaller, more tilted, blurrier, harder JPEG")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = parser.parse_args(argv)
    font = find_font()
    if font is None:
        print(NO_FONT_REASON, file=sys.stderr)
        return 2
    ocr = LocalOcr()
    ocr.read(generate("id_back", 1, font, first_seed=10**6)[0].image)  # load the models outside the timings
    exact_total = fields_total = 0
    for kind in MAKERS:
        docs = generate(kind, args.n, font, first_seed=args.seed, harsh=args.harsh)
        times: list[float] = []
        exact: dict[str, int] = {}
        for doc in docs:
            started = time.perf_counter()
            got = read(ocr, kind, doc.image)
            times.append(time.perf_counter() - started)
            for name, want in doc.truth.items():
                hit = got.get(name, "") == want
                exact[name] = exact.get(name, 0) + hit
                if not hit and args.verbose:
                    print(f"  miss {kind}.{name}: want {want!r} got {got.get(name)!r}")
        form = FORM_FIELDS[kind]
        form_exact = sum(exact[name] for name in form)
        exact_total += form_exact
        fields_total += len(form) * len(docs)
        per_field = "  ".join(f"{name} {exact[name]}/{len(docs)}" for name in exact)
        print(f"{kind:9} n={len(docs)}  p50 {statistics.median(times):.2f} s  p90 {percentile(times, 0.9):.2f} s  "
              f"form fields exact {form_exact / (len(form) * len(docs)):.1%}   [{per_field}]")
    print(f"overall: {exact_total}/{fields_total} form fields exact = {exact_total / fields_total:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
