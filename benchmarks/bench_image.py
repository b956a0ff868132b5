"""Image matcher benchmark on the development images (benchmark half), and a synthetic scale run.

Enrolls part of the *benchmark* half of `../shared/data/dev/images` (the calibration script never sees
it), optionally pads the index with synthetic works up to `--pad`, queries every edit of enrolled images
and non-enrolled images with the same edits, and prints per edit and per source: recall@1 (the top match
is the right work and above threshold), the false-match rate, latency p50 and p95, and enrollment
throughput. `--scale N` also measures PDQ range search and embedding search over N synthetic works.

    python -m benchmarks.bench_image [--data PATH] [--enrolled 150] [--queries 60] [--pad 10000]
    python -m benchmarks.bench_image --scale 1000000 --skip-dev
"""

import argparse
import random
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks import edits
from benchmarks.devdata import DEFAULT, DevSet
from benchmarks.stats import pct, rss_mb, table
from matcher.image import features as lf
from matcher.image.embed_onnx import OnnxEmbedder
from matcher.image.index import HashIndex, VectorIndex
from matcher.image.matcher import ImageFingerprint, ImageMatcher
from registry.content import load_content


def load(data: bytes) -> object:
    return load_content(data, max_pixels=10**9, max_text_chars=1)


def pad_index(matcher: ImageMatcher, count: int, dim: int, seed: int = 5) -> None:
    """Synthetic works (random PDQ hashes, random unit embeddings, no local features) to size the index."""
    rng = np.random.default_rng(seed)
    empty = lf.LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.uint8), 1, 1)
    for i in range(count):
        emb = rng.normal(size=(2, dim)).astype(np.float32)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True)
        parts = {"exact": f"pad{i}", "pdq": (rng.integers(0, 256, 32, dtype=np.uint8), 100), "local": empty}
        if matcher.embedder is not None:
            parts[f"embedding:{matcher.embedder.name}"] = emb
        matcher.add(f"pad{i}", ImageFingerprint(parts=parts, phash="0" * 16, pdq_quality=100, features=empty))


def dev_benchmark(args: argparse.Namespace) -> None:
    dev = DevSet(args.data, "manifest_images.csv")
    legit = dev.overlapping("overlaps_images.json")
    files = dev.files("benchmark")
    random.Random(4).shuffle(files)
    enrolled, others = files[: args.enrolled], files[args.enrolled :]
    embedder = OnnxEmbedder()
    matcher = ImageMatcher(None, embedder)
    t0 = time.perf_counter()
    for path, _ in enrolled:
        matcher.add(path.name, matcher.fingerprint(load(path.read_bytes())))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - t0
    print(f"enrolled {len(enrolled)} images in {elapsed:.1f}s: {len(enrolled) / elapsed:.1f} images/s "
          f"(decode, PDQ, pHash, SIFT, 2 embeddings each); threshold {matcher.threshold}")
    if args.pad:
        t0 = time.perf_counter()
        pad_index(matcher, args.pad - len(enrolled), embedder.dim)
        print(f"padded the index to {len(matcher.work_ids())} works with synthetic entries "
              f"in {time.perf_counter() - t0:.0f}s")
    backgrounds = [Image.open(p).convert("RGB") for p, _ in others[:10]]
    hits: dict[tuple[str, str], list[bool]] = defaultdict(list)
    latency: dict[str, list[float]] = defaultdict(list)
    for name, edit in edits.ALL.items():
        for i, (path, source) in enumerate(enrolled[: args.queries]):
            query = edit(Image.open(path).convert("RGB"), random.Random(i), backgrounds[i % len(backgrounds)])
            content = load(edits.encode(query))
            t = time.perf_counter()
            found = matcher.search(content)  # type: ignore[arg-type]
            latency[name].append(time.perf_counter() - t)
            ok = bool(found) and found[0].work_id == path.name
            hits[(name, source)].append(ok)
            hits[(name, "all")].append(ok)
    false: dict[tuple[str, str], list[bool]] = defaultdict(list)
    negatives = others[10 : 10 + args.negatives]
    negative_edits: list[tuple[str, edits.Edit | None]] = [("none", None), *edits.ALL.items()]
    for name, neg_edit in negative_edits:
        for i, (path, source) in enumerate(negatives):
            img = Image.open(path).convert("RGB")
            bg = backgrounds[(i + 3) % len(backgrounds)]
            query = img if neg_edit is None else neg_edit(img, random.Random(i), bg)
            content = load(edits.encode(query))
            t = time.perf_counter()
            found = [m for m in matcher.search(content)  # type: ignore[arg-type]
                     if frozenset((m.work_id, path.name)) not in legit]
            latency["negatives"].append(time.perf_counter() - t)
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
    for kind, names in (("mild", edits.MILD), ("hard", edits.HARD)):
        allh = [x for n in names for x in hits[(n, "all")]]
        print(f"{kind} edits: recall@1 {sum(allh) / len(allh):.3f} over {len(allh)} queries")
    neg_rows = []
    for source in ["all", *sources]:
        f = [x for (n, s), v in false.items() if s == source for x in v]
        if f:
            neg_rows.append([source, len(f), sum(f), sum(f) / len(f)])
    print(table(["non-enrolled (as is and all edits)", "queries", "false matches", "rate"], neg_rows))
    all_lat = [x for v in latency.values() for x in v]
    print(f"check latency over all queries: p50 {pct(all_lat, 50) * 1000:.1f} ms, "
          f"p95 {pct(all_lat, 95) * 1000:.1f} ms (model warm, {len(matcher.work_ids())} works in the index)")


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
    ap.add_argument("--pad", type=int, default=0, help="pad the index with synthetic works up to this size")
    ap.add_argument("--scale", type=int, default=0, help="index-only scale run with N synthetic works")
    ap.add_argument("--skip-dev", action="store_true")
    args = ap.parse_args()
    if not args.skip_dev:
        dev_benchmark(args)
    if args.scale:
        scale_benchmark(args.scale, 1280)


if __name__ == "__main__":
    main()
