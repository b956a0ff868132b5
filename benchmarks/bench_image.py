"""Image matcher benchmark on the development images (benchmark half), and a synthetic scale run.

Enrolls part of the *benchmark* half of `../shared/data/dev/images` (the calibration script never sees
it), optionally pads the index up to `--pad` works with real fingerprints of re-framed development images
that are neither enrolled nor queried, queries every edit of enrolled images and non-enrolled images with
the same edits, and prints per edit and per source: recall@1 (the top match is the right work and above
threshold), the false-match rate, latency p50 and p95, the per-stage profile, and enrollment throughput.
`--index-dir` keeps the enrolled and padded index and reuses it on the next run (same code, same data).
`--scale N` also measures PDQ range search and embedding search over N synthetic works.

    python -m benchmarks.bench_image [--data PATH] [--enrolled 150] [--queries 60] [--pad 10000] [--index-dir D]
    python -m benchmarks.bench_image --scale 1000000 --skip-dev
"""

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from benchmarks import edits
from benchmarks.devdata import DEFAULT, LOW_DETAIL_SOURCES, DevSet, select
from benchmarks.stats import pct, rss_mb, table
from matcher.base import Match
from matcher.image.embed_onnx import OnnxEmbedder
from matcher.image.index import HashIndex, VectorIndex
from matcher.image.matcher import ImageMatcher
from matcher.image.signals import ImageQuery
from registry.content import load_content


def load(data: bytes) -> object:
    return load_content(data, max_pixels=10**9, max_text_chars=1)


def pad_index(matcher: ImageMatcher, count: int, sources: list[Path], seed: int = 5) -> None:
    """Pad the index to `count` works with real fingerprints (every signal, local features included) of
    random re-framings of development images that are neither enrolled nor queried: crops of 40-95% of a
    side, some mirrored, colour-shifted and resized, so that the embedding and local-feature indexes hold
    realistic neighbours rather than random vectors."""
    rng = random.Random(seed)
    images = [Image.open(p).convert("RGB") for p in sources]
    for i in range(count):
        img = rng.choice(images)
        w, h = img.size
        fw, fh = rng.uniform(0.4, 0.95), rng.uniform(0.4, 0.95)
        x, y = rng.uniform(0, 1 - fw), rng.uniform(0, 1 - fh)
        out = img.crop((round(x * w), round(y * h), round((x + fw) * w), round((y + fh) * h)))
        if rng.random() < 0.3:
            out = ImageOps.mirror(out)
        out = ImageEnhance.Color(out).enhance(rng.uniform(0.3, 1.7))
        side = rng.choice([256, 384, 512, 768])
        out.thumbnail((side, side))
        matcher.add(f"pad{i}", matcher.fingerprint(load(edits.encode(out))))  # type: ignore[arg-type]


def enroll_and_pad(matcher: ImageMatcher, enrolled: list[tuple[Path, str]], pad_sources: list[Path],
                   pad: int) -> None:
    t0 = time.perf_counter()
    for path, _ in enrolled:
        matcher.add(path.name, matcher.fingerprint(load(path.read_bytes())))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    print(f"enrolled {len(enrolled)} images in {elapsed:.1f}s: {len(enrolled) / elapsed:.1f} images/s "
          f"(decode, PDQ, pHash, SIFT, 2 embeddings each); threshold {matcher.threshold}")
    if pad:
        t0 = time.perf_counter()
        pad_index(matcher, pad - len(enrolled), pad_sources)
        elapsed = time.perf_counter() - t0
        print(f"padded the index to {len(matcher.work_ids())} works with re-framings of {len(pad_sources)} other "
              f"development images in {elapsed:.0f}s: {(pad - len(enrolled)) / elapsed:.1f} images/s")
    matcher.save()


def dev_benchmark(args: argparse.Namespace) -> None:
    dev = DevSet(args.data, "manifest_images.csv")
    legit = dev.overlapping("overlaps_images.json")
    files = dev.files("benchmark")
    random.Random(4).shuffle(files)
    enrolled, queried, held_low, others = select(files, args.enrolled, args.queries, args.low_detail_share)
    negatives = held_low + others[10 : 10 + args.negatives]
    embedder = OnnxEmbedder()
    matcher = ImageMatcher(None, embedder, index_dir=args.index_dir)
    if matcher.work_ids():
        print(f"loaded the index of {len(matcher.work_ids())} works from {args.index_dir}")
    else:
        enroll_and_pad(matcher, enrolled, [p for p, _ in others[10 + args.negatives :]], args.pad)
    backgrounds = [Image.open(p).convert("RGB") for p, _ in others[:10]]
    hits: dict[tuple[str, str], list[bool]] = defaultdict(list)
    latency: dict[str, list[float]] = defaultdict(list)
    profile: list[dict[str, float]] = []
    verified: list[int] = []

    def search(content: object) -> list[Match]:
        query = ImageQuery(content.image)  # type: ignore[attr-defined]
        t = time.perf_counter()
        found = [m for m in matcher.verify_query(query) if m.score >= matcher.threshold]
        profile.append({**query.timings, "total": time.perf_counter() - t})
        verified.append(query.verified)
        return found

    blanks: list[str] = []
    for name, edit in edits.ALL.items():
        for i, (path, source) in enumerate(queried):
            query = edit(Image.open(path).convert("RGB"), random.Random(i), backgrounds[i % len(backgrounds)])
            content = load(edits.encode(query))
            if edits.blank(content.image):  # type: ignore[attr-defined]
                blanks.append(f"{name} of {path.name}")
                continue
            found = search(content)
            latency[name].append(profile[-1]["total"])
            ok = bool(found) and found[0].work_id == path.name
            hits[(name, source)].append(ok)
            hits[(name, "all")].append(ok)
    false: dict[tuple[str, str], list[bool]] = defaultdict(list)
    false_pairs: list[str] = []
    negative_edits: list[tuple[str, edits.Edit | None]] = [("none", None), *edits.ALL.items()]
    for name, neg_edit in negative_edits:
        for i, (path, source) in enumerate(negatives):
            img = Image.open(path).convert("RGB")
            bg = backgrounds[(i + 3) % len(backgrounds)]
            query = img if neg_edit is None else neg_edit(img, random.Random(i), bg)
            content = load(edits.encode(query))
            found = [m for m in search(content) if frozenset((m.work_id, path.name)) not in legit]
            latency["negatives"].append(profile[-1]["total"])
            if found:
                false_pairs.append(f"{name} of {path.name} -> {found[0].work_id} {found[0].score} "
                                   f"{found[0].evidence.signals}")  # type: ignore[union-attr]
            false[(name, source)].append(bool(found))
            false[(name, "all")].append(bool(found))
    sources = sorted({s for _, s in files})
    rows = []
    for name in edits.ALL:
        kind = "mild" if name in edits.MILD else "hard"
        for source in ["all", *sources]:
            h = hits.get((name, source), [])
            if h:
                rows.append([name, kind, source, len(h), sum(h) / len(h),
                             pct(latency[name], 50) * 1000 if source == "all" else "",
                             pct(latency[name], 95) * 1000 if source == "all" else ""])
    print(table(["edit", "kind", "source", "queries", "recall@1", "p50 ms", "p95 ms"], rows))
    for line in blanks:
        print(f"  left out of recall, the edit left a blank picture ({edits.BLANK_SHARE:.0%} of its pixels at one "
              f"value): {line}")
    groups = {"all": sources, "low-detail": [s for s in sources if s in LOW_DETAIL_SOURCES],
              "other": [s for s in sources if s not in LOW_DETAIL_SOURCES]}
    for kind, names in (("mild", edits.MILD), ("hard", edits.HARD)):
        for group, members in groups.items():
            allh = [x for n in names for s in members for x in hits.get((n, s), [])]
            if allh:
                print(f"{kind} edits, {group} sources: recall@1 {sum(allh) / len(allh):.3f} over {len(allh)} queries")
    neg_rows = []
    for source in ["all", "low-detail", *sources]:
        members = groups["low-detail"] if source == "low-detail" else [source]
        f = [x for (n, s), v in false.items() if s in members for x in v]
        if f:
            neg_rows.append([source, len(f), sum(f), sum(f) / len(f)])
    print(table(["non-enrolled (as is and all edits)", "queries", "false matches", "rate"], neg_rows))
    for line in false_pairs[:20]:
        print("  false match:", line)
    print_profile(profile)
    print(f"candidates verified per query: mean {np.mean(verified):.1f}, p95 {pct(verified, 95):.0f}; "
          f"non-enrolled queries: p50 {pct(latency['negatives'], 50) * 1000:.1f} ms, "
          f"p95 {pct(latency['negatives'], 95) * 1000:.1f} ms")
    large_originals(queried[:20], matcher)
    all_lat = [x for v in latency.values() for x in v]
    print(f"check latency over all queries: p50 {pct(all_lat, 50) * 1000:.1f} ms, "
          f"p95 {pct(all_lat, 95) * 1000:.1f} ms (model warm, {len(matcher.work_ids())} works in the index)")


def large_originals(queried: list[tuple[Path, str]], matcher: ImageMatcher) -> None:
    """Checks of enrolled images upscaled to 5120 x 2880 (JPEG), decoding included: fingerprints are computed
    at a bounded size, so they should cost about what small ones do."""
    lat, ok = [], 0
    for path, _ in queried:
        img = Image.open(path).convert("RGB").resize((5120, 2880), Image.Resampling.BILINEAR)
        data = edits.encode(img)
        t = time.perf_counter()
        found = [m for m in matcher.verify_all(load(data)) if m.score >= matcher.threshold]  # type: ignore[arg-type]
        lat.append(time.perf_counter() - t)
        ok += bool(found) and found[0].work_id == path.name
    print(f"5120 x 2880 JPEG originals ({len(lat)}, decode included): recall@1 {ok / len(lat):.3f}, "
          f"p50 {pct(lat, 50) * 1000:.1f} ms, p95 {pct(lat, 95) * 1000:.1f} ms")


def print_profile(profile: list[dict[str, float]]) -> None:
    """Per stage: how many queries ran it, its median and 95th percentile where it ran, its mean share."""
    steps = sorted({k for p in profile for k in p if k != "total"}, key=lambda k: -sum(p.get(k, 0) for p in profile))
    total = sum(p["total"] for p in profile)
    rows = []
    for step in [*steps, "total"]:
        ran = [p[step] for p in profile if step in p]
        rows.append([step, f"{len(ran) / len(profile):.2f}", pct(ran, 50) * 1000, pct(ran, 95) * 1000,
                     f"{sum(ran) / total:.2f}"])
    print(table(["stage", "share of queries", "p50 ms", "p95 ms", "share of time"], rows))


def scale_benchmark(n: int, dim: int) -> None:
    """Index search alone over `n` synthetic works: PDQ range search and approximate embedding search."""
    rng = np.random.default_rng(0)
    rss0 = rss_mb()
    hashes = HashIndex()
    t0 = time.perf_counter()
    for start in range(0, n, 100_000):
        count = min(100_000, n - start)
        hashes.add(np.arange(start, start + count), rng.integers(0, 256, (count, 32), dtype=np.uint8))
    hash_mem = rss_mb() - rss0
    queries = rng.integers(0, 256, (100, 8, 32), dtype=np.uint8)
    lat = []
    for q in queries:
        t = time.perf_counter()
        hashes.search(q, 31)
        lat.append(time.perf_counter() - t)
    print(f"PDQ: {n} hashes, added in {time.perf_counter() - t0:.1f}s, +{hash_mem:.0f} MB; range search of 8 "
          f"dihedral hashes: p50 {pct(lat, 50) * 1000:.2f} ms, p95 {pct(lat, 95) * 1000:.2f} ms")
    rss1 = rss_mb()
    vectors = VectorIndex(dim, approximate_after=min(200_000, n // 2))
    latent = rng.normal(size=(64, dim)).astype(np.float32)
    t0 = time.perf_counter()
    for start in range(0, n, 50_000):
        count = min(50_000, n - start)
        v = rng.normal(size=(count, 64)).astype(np.float32) @ latent + 0.1 * rng.normal(size=(count, dim)).astype(
            np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        vectors.add(np.arange(start, start + count), v)
        if start and start % 200_000 == 0:
            print(f"  {start} vectors, {time.perf_counter() - t0:.0f}s, +{rss_mb() - rss1:.0f} MB", flush=True)
    build = time.perf_counter() - t0
    q = rng.normal(size=(200, 64)).astype(np.float32) @ latent
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    lat = []
    for row in q:
        t = time.perf_counter()
        vectors.search(row[None, :], 8)
        lat.append(time.perf_counter() - t)
    kind = "PCA+HNSW+SQ8" if vectors.approximate else "flat"
    print(f"embeddings: {n} x {dim}-d, {kind}, built in {build:.0f}s, +{rss_mb() - rss1:.0f} MB; "
          f"search top-8: p50 {pct(lat, 50) * 1000:.2f} ms, p95 {pct(lat, 95) * 1000:.2f} ms")
    print(f"total resident memory of the process: {rss_mb():.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--enrolled", type=int, default=150)
    ap.add_argument("--queries", type=int, default=60, help="enrolled images queried per edit")
    ap.add_argument("--negatives", type=int, default=60)
    ap.add_argument("--low-detail-share", type=float, default=0.6,
                    help="share of the low-detail images enrolled (all of them queried); the rest are negatives")
    ap.add_argument("--pad", type=int, default=0, help="pad the index with synthetic works up to this size")
    ap.add_argument("--scale", type=int, default=0, help="index-only scale run with N synthetic works")
    ap.add_argument("--skip-dev", action="store_true")
    ap.add_argument("--index-dir", type=Path, help="keep the index (enrolled and padded) here and reuse it next run")
    args = ap.parse_args()
    if not args.skip_dev:
        dev_benchmark(args)
    if args.scale:
        scale_benchmark(args.scale, 1280)


if __name__ == "__main__":
    main()
