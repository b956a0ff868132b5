"""Offline filtering (`provenance filter --bank`): throughput, and what it catches of reserved works.

Enrolls part of the *benchmark* half of the development images and texts with `ai_training: notAllowed`,
downloads the signed bank, and writes a dataset of: the enrolled images under the edits a dataset applies
(resize to half, JPEG at quality 30, grayscale, mirror), other development images that were never enrolled
(as they are and under the same edits), 150-word excerpts of the enrolled texts inside new text, and
never-enrolled texts. Then filters it offline the way `provenance filter` does (hashing in `--workers`
processes) and prints images/s, texts/s, the share of copies excluded (per edit and per source) and the
share of unrelated items excluded.

    python -m benchmarks.bench_filter [--images 200] [--texts 300] [--workers 2]
"""

import argparse
import functools
import random
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from api.settings import Settings
from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet, shares_passage
from benchmarks.stats import table
from registry.models import Role
from registry.terms import OptOuts, TdmChoice
from service.bank import verify
from service.offline_filter import OfflineFilter, hash_file
from service.wiring import open_registry

EDITS = {"resize50": edits.resize50, "jpeg30": edits.jpeg30, "grayscale": edits.grayscale, "mirror": edits.mirror}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--images", type=int, default=200, help="enrolled images (as many others are negatives)")
    ap.add_argument("--texts", type=int, default=300, help="enrolled texts (as many others are negatives)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    rng = random.Random(11)
    images = DevSet(args.data, "manifest_images.csv").files("benchmark")
    texts = DevSet(args.data, "manifest_texts.csv").files("benchmark")
    rng.shuffle(images)
    rng.shuffle(texts)
    enrolled_images, other_images = images[: args.images], images[args.images : 2 * args.images]
    enrolled_texts, other_texts = texts[: args.texts], texts[args.texts : 2 * args.texts]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        registry = open_registry(Settings.load(data_dir=root / "data", image_embedder="none").service)
        owner = registry.ensure_account("creator", Role.CREATOR)
        reserved = OptOuts(ai_training=TdmChoice(use="notAllowed"))
        name_of = {registry.enroll(owner, path.read_bytes(), opt_outs=reserved).id: path.name
                   for path, _ in [*enrolled_images, *enrolled_texts]}
        auditor = registry.ensure_account("auditor", Role.AUDITOR)
        bank_lines = list(registry.bank(auditor, "ai_training"))
        header, entries = verify(bank_lines, registry.log.public)
        registry.close()
        print(f"bank: {len(entries)} works, {sum(len(x) for x in bank_lines) / 2**20:.1f} MB")
        data = root / "dataset"
        data.mkdir()
        truth: dict[str, tuple[str, str, str]] = {}  # file -> (kind of item, edit, source)
        original: dict[str, str] = {}  # file -> the development file it was made from
        backdrop = Image.new("RGB", (64, 64))
        for label, group in (("copy", enrolled_images), ("other", other_images)):
            for i, (path, source) in enumerate(group):
                img = Image.open(path).convert("RGB")
                for edit_name, edit_fn in EDITS.items():
                    out = data / f"{label}-{i}-{edit_name}.jpg"
                    out.write_bytes(edits.encode(edit_fn(img, random.Random(i), backdrop)))
                    truth[str(out)] = (f"{label} image", edit_name, source)
                    original[str(out)] = path.name
        filler = [w for p, _ in other_texts[:20] for w in p.read_text(errors="replace").split()]
        for i, (path, source) in enumerate(enrolled_texts):
            words = path.read_text(errors="replace").split()
            start = rng.randrange(max(1, len(words) - 150))
            excerpt = " ".join(filler[i * 7 % len(filler):][:200] + words[start : start + 150] + filler[:100])
            out = data / f"copy-{i}.txt"
            out.write_text(excerpt)
            truth[str(out)] = ("copy text", "excerpt150", source)
        for i, (path, source) in enumerate(other_texts):
            out = data / f"other-{i}.txt"
            out.write_bytes(path.read_bytes())
            truth[str(out)] = ("other text", "whole", source)
            original[str(out)] = path.name
        bank = OfflineFilter(header, entries)
        files = sorted(truth)
        hasher = functools.partial(hash_file, params=bank.params)
        seconds: dict[str, float] = {}
        decisions = {}
        for kind in ("image", "text"):
            chosen = [f for f in files if truth[f][0].endswith(kind)]
            t0 = time.perf_counter()
            with ProcessPoolExecutor(args.workers) as pool:
                for h in pool.map(hasher, [Path(f) for f in chosen], chunksize=16):
                    decisions[h.item] = bank.check_hashed(h)
            seconds[kind] = time.perf_counter() - t0
            print(f"{kind}s: {len(chosen)} filtered in {seconds[kind]:.1f}s: {len(chosen) / seconds[kind]:.0f}/s "
                  f"({args.workers} processes, pool start included)")
    rows = []
    caught: dict[tuple[str, str], list[bool]] = defaultdict(list)
    false: dict[str, list[bool]] = defaultdict(list)
    legit = DevSet(args.data, "manifest_images.csv").overlapping("overlaps_images.json") | DevSet(
        args.data, "manifest_texts.csv").overlapping("overlaps_texts.json")
    known = 0
    path_of = {p.name: p for p, _ in [*enrolled_texts, *other_texts]}
    for f, (kind, edit_name, source) in truth.items():
        d = decisions[f]
        matched = name_of.get(d.work_id or "", "")
        if kind.startswith("copy"):
            caught[(edit_name, "all")].append(d.excluded)
            caught[(edit_name, source)].append(d.excluded)
        elif d.excluded and frozenset((matched, original[f])) in legit:
            known += 1  # the two files share content (the development data's overlaps files): not false
        elif d.excluded and kind == "other text" and shares_passage(path_of[original[f]].read_text(errors="replace"),
                                                                   path_of[matched].read_text(errors="replace")):
            known += 1  # a templated near-copy (the same independent oracle the text benchmark uses)
        else:
            false[kind].append(d.excluded)
    for (edit_name, source), v in sorted(caught.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all", kv[0][1])):
        rows.append([edit_name, source, len(v), sum(v) / len(v)])
    print(table(["edit", "source", "copies", "excluded"], rows))
    images_all = [x for (e, s), v in caught.items() if s == "all" and e in EDITS for x in v]
    print(f"reserved image copies excluded: {sum(images_all) / len(images_all):.3f} over {len(images_all)}")
    for kind, v in false.items():
        print(f"{kind}s excluded (never enrolled, no known overlap): {sum(v)}/{len(v)} ({sum(v) / len(v):.4f})")
    print(f"excluded for a known overlap with an enrolled file (overlaps files, near-copy oracle): {known}")


if __name__ == "__main__":
    main()
