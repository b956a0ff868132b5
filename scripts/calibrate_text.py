"""Calibrate the text matcher's decision threshold on the development texts.

Takes the *calibration* half of `../shared/data/dev/texts`, enrolls 70% of it and holds 30% out. Positives:
verbatim and 10%-edited excerpts of 50 and 150 words, and 150-word excerpts at 25% share of new text.
Negatives: the held-out documents, whole and as 150-word excerpts, ignoring pairs that legitimately share
a passage: listed in `overlaps_texts.json`, or sharing 30 words with up to 20% of them changed by the
reference oracle `benchmarks.devdata.shares_passage` (templated man pages of one family: the same
paragraphs with a function name changed). The threshold is set above every negative with a margin and
written to `matcher/text/calibration.json`. The benchmark reports on the other half.

    python -m scripts.calibrate_text [--data PATH]
"""

import argparse
import json
import random
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from benchmarks import text_edits
from benchmarks.devdata import DEFAULT, DevSet, shares_passage
from matcher.base import MemoryOriginals
from matcher.text.matcher import TextMatcher, load_calibration
from registry.content import load_content
from scripts.fit import threshold_for

OUT = Path(__file__).resolve().parents[1] / "matcher" / "text" / "calibration.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--queries", type=int, default=200, help="queries per positive case")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    dev = DevSet(args.data, "manifest_texts.csv")
    legit = dev.overlapping("overlaps_texts.json")
    enrolled, held_out = dev.enrolled_and_held_out("calibration", seed=0)
    base = load_calibration()
    originals = MemoryOriginals()
    matcher = TextMatcher(originals, calibration=msgspec.structs.replace(base, threshold=0.0))
    texts = {}
    for path, _ in enrolled:
        data = path.read_bytes()
        originals.data[path.name] = data
        texts[path.name] = data.decode("utf-8").split()
        matcher.add(path.name, matcher.fingerprint(load_content(data, max_pixels=1, max_text_chars=10**8)))
    vocabulary = sorted({w for words in texts.values() for w in words})
    filler = " ".join(p.read_text() for p, _ in held_out[:40]).split()

    def legitimately_shared(work_id: str, query_name: str | None, query_text: str) -> bool:
        if query_name is not None and frozenset((work_id, query_name)) in legit:
            return True
        return shares_passage(query_text, originals.data[work_id].decode("utf-8"), max_edit=0.2)

    def top_score(text: str, truth: str | None, excluded: str | None = None) -> float:
        best = 0.0
        for m in matcher.verify_all(load_content(text.encode(), max_pixels=1, max_text_chars=10**8)):
            if truth is not None and m.work_id == truth:
                return m.score
            if truth is None and m.score > best and not legitimately_shared(m.work_id, excluded, text):
                best = m.score
        return best if truth is None else 0.0

    rng = random.Random(1)
    names = [n for n in texts if len(texts[n]) >= 200]
    positives: dict[str, list[float]] = {}
    for case in ("verbatim-50", "verbatim-150", "edited10-50", "edited10-150", "share25-150"):
        scores = []
        for _ in range(args.queries):
            name = rng.choice(names)
            n = 50 if case.endswith("-50") else 150
            words = text_edits.excerpt(texts[name], n, rng)
            if case.startswith("edited"):
                words = text_edits.edit_words(words, 0.1, rng, vocabulary)
            if case.startswith("share"):
                start = rng.randrange(max(1, len(filler) - 600))
                words = text_edits.embed(words, filler[start:], 0.25, rng)
            scores.append(top_score(" ".join(words), name))
        positives[case] = scores
    negatives = []
    for path, _ in held_out:
        text = path.read_text()
        negatives.append(top_score(text, None, path.name))
        words = text.split()
        if len(words) > 150:
            negatives.append(top_score(" ".join(text_edits.excerpt(words, 150, rng)), None, path.name))
    threshold = threshold_for(negatives, floor=0.5, margin=0.02)
    cal = msgspec.structs.replace(base, threshold=threshold)
    report = {
        "about": "written by scripts/calibrate_text.py; do not edit by hand",
        "written": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": {"split": "calibration", "enrolled": len(enrolled), "held_out": len(held_out),
                 "queries_per_case": args.queries, "negative_queries": len(negatives)},
        "fit": {"max_negative_score": round(max(negatives), 4),
                "calibration_recall": {k: round(sum(s >= threshold for s in v) / len(v), 4)
                                       for k, v in positives.items()}},
        "calibration": msgspec.to_builtins(cal),
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
