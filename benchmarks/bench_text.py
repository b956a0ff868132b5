"""Text matcher benchmark on the development texts (benchmark half) and a synthetic scale run.

Enrolls 70% of the *benchmark* half of `../shared/data/dev/texts` (the calibration script never sees it),
queries excerpts of 50, 150 and 400 words, verbatim and with 10% of the words substituted, deleted or
inserted, 150-word excerpts inside unrelated text at 50% and 25% share, whole documents with light edits,
and the held-out 30% as negatives (whole and as 150-word excerpts). Prints recall@1, false-match rate and
latency per case and per source, enrollment throughput and index size.

    python -m benchmarks.bench_text [--data PATH] [--queries 100] [--scale 100000 [--workers 2] [--skip-dev]]
"""

import argparse
import contextlib
import multiprocessing
import multiprocessing.pool
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from benchmarks import text_edits
from benchmarks.devdata import DEFAULT, DevSet, shares_passage
from benchmarks.stats import du_mb, pct, rss_mb, table
from matcher.base import MemoryOriginals
from matcher.text.matcher import TextFingerprint, TextMatcher
from registry.content import load_content

CASES = ["verbatim-50", "verbatim-150", "verbatim-400", "edited10-50", "edited10-150", "edited10-400",
         "share50-150", "share25-150", "whole-light-edit"]


def load(text: str) -> object:
    return load_content(text.encode("utf-8"), max_pixels=1, max_text_chars=10**9)


def dev_benchmark(args: argparse.Namespace) -> None:
    dev = DevSet(args.data, "manifest_texts.csv")
    legit = dev.overlapping("overlaps_texts.json")
    enrolled, held_out = dev.enrolled_and_held_out("benchmark", seed=2)
    files = enrolled + held_out
    originals = MemoryOriginals()
    matcher = TextMatcher(originals)
    source_of = {p.name: s for p, s in files}
    texts: dict[str, str] = {}
    rss0, t0, size = rss_mb(), time.perf_counter(), 0
    for path, _ in enrolled:
        data = path.read_bytes()
        size += len(data)
        originals.data[path.name] = data
        texts[path.name] = data.decode("utf-8")
        matcher.add(path.name, matcher.fingerprint(load_content(data, max_pixels=1, max_text_chars=10**9)))
    elapsed = time.perf_counter() - t0
    mem = rss_mb() - rss0
    with tempfile.TemporaryDirectory() as tmp:
        matcher.index.save(Path(tmp))
        disk = du_mb(Path(tmp))
    print(f"enrolled {len(enrolled)} texts ({size / 2**20:.1f} MB) in {elapsed:.1f}s: "
          f"{len(enrolled) / elapsed:.0f} texts/s, {size / 2**20 / elapsed:.2f} MB/s; "
          f"index {disk:.1f} MB on disk, about {mem:.0f} MB in memory (RSS growth); threshold {matcher.threshold}")

    rng = random.Random(3)
    words = {n: t.split() for n, t in texts.items()}
    vocabulary = sorted({w for ws in words.values() for w in ws})
    filler = " ".join(p.read_text() for p, _ in held_out).split()
    results: dict[tuple[str, str], list[bool]] = defaultdict(list)
    latency: dict[str, list[float]] = defaultdict(list)
    for case in CASES:
        n = int(case.rsplit("-", 1)[1]) if case[-1].isdigit() else 0
        names = [k for k, ws in words.items() if len(ws) >= max(n, 60)]
        for _ in range(args.queries):
            name = rng.choice(names)
            if case == "whole-light-edit":
                query = text_edits.light_edit(texts[name], rng)
            else:
                q = text_edits.excerpt(words[name], n, rng)
                if case.startswith("edited10"):
                    q = text_edits.edit_words(q, 0.1, rng, vocabulary)
                if case.startswith("share"):
                    share = 0.5 if case.startswith("share50") else 0.25
                    start = rng.randrange(max(1, len(filler) - 800))
                    q = text_edits.embed(q, filler[start:], share, rng)
                query = " ".join(q)
            t = time.perf_counter()
            found = matcher.search(load(query))  # type: ignore[arg-type]
            latency[case].append(time.perf_counter() - t)
            top = found[0].work_id if found else None
            ok = top == name or (top is not None and frozenset((top, name)) in legit
                                 and name in {m.work_id for m in found})
            results[(case, source_of[name])].append(ok)
            results[(case, "all")].append(ok)
    negatives: dict[str, list[int]] = defaultdict(list)  # per source: [strict, with oracle]
    neg_latency: list[float] = []
    for path, source in held_out:
        text = path.read_text()
        for query in (text, " ".join(text_edits.excerpt(text.split(), 150, rng))):
            t = time.perf_counter()
            found = matcher.search(load(query))  # type: ignore[arg-type]
            neg_latency.append(time.perf_counter() - t)
            false = [m for m in found if frozenset((m.work_id, path.name)) not in legit]
            strict = bool(false)
            oracle = any(not shares_passage(query, texts[m.work_id], max_edit=0.2) for m in false)
            for key in (source, "all"):
                negatives[key].append(0)
                negatives[key + ":strict"].append(int(strict))
                negatives[key + ":oracle"].append(int(oracle))
    rows = []
    for case in CASES:
        for source in ["all", *sorted({s for _, s in files})]:
            hits = results.get((case, source), [])
            if hits:
                rows.append([case, source, len(hits), sum(hits) / len(hits),
                             pct(latency[case], 50) * 1000 if source == "all" else "",
                             pct(latency[case], 95) * 1000 if source == "all" else ""])
    print(table(["case", "source", "queries", "recall@1", "p50 ms", "p95 ms"], rows))
    neg_rows = []
    for source in ["all", *sorted({s for _, s in files})]:
        count = len(negatives.get(source, []))
        if count:
            neg_rows.append([source, count, sum(negatives[source + ":strict"]) / count,
                             sum(negatives[source + ":oracle"]) / count])
    print(table(["negatives", "queries", "false-match rate (vs overlaps file)",
                 "false-match rate (vs overlaps file + near-copy oracle)"], neg_rows))
    print(f"negative-query latency p50 {pct(neg_latency, 50) * 1000:.1f} ms, p95 {pct(neg_latency, 95) * 1000:.1f} ms")


class _Synthetic:
    """Originals regenerated from their number (as the blob store would read them from disk), so that the
    process's memory growth is the index's own."""

    def __init__(self, vocab: npt.NDArray[np.str_], weights: npt.NDArray[np.float64]) -> None:
        self.vocab, self.weights = vocab, weights
        self.cdf = weights.cumsum()
        self.cdf /= self.cdf[-1]

    def words(self, i: int) -> list[str]:
        """What `rng.choice(len(vocab), size=800, p=weights)` draws, without recomputing the distribution."""
        rng = np.random.default_rng(1_000_003 + i)
        return list(self.vocab[self.cdf.searchsorted(rng.random(800), side="right")])

    def original(self, work_id: str) -> bytes:
        return " ".join(self.words(int(work_id[1:]))).encode()


_WORKER: tuple[_Synthetic, TextMatcher] | None = None


def _worker_init(vocab: npt.NDArray[np.str_], weights: npt.NDArray[np.float64]) -> None:
    global _WORKER
    originals = _Synthetic(vocab, weights)
    _WORKER = (originals, TextMatcher(originals))


def _fingerprint(i: int) -> TextFingerprint:
    """Document `i`'s fingerprint (tokens and shingles), computed in a worker process as a bulk enrollment's
    workers would; the index (signatures and band tables) is built in the benchmark's own process."""
    assert _WORKER is not None
    originals, matcher = _WORKER
    return matcher.fingerprint(load(" ".join(originals.words(i))))  # type: ignore[arg-type]


def _bounded(pool: multiprocessing.pool.Pool, n_docs: int, chunk: int = 2000) -> Iterator[TextFingerprint]:
    """The fingerprints in order, at most two chunks ahead of the consumer (an unbounded `imap` would queue
    the workers' results in this process and inflate the memory measured)."""
    ahead = pool.map_async(_fingerprint, range(0, min(chunk, n_docs)))
    for start in range(0, n_docs, chunk):
        current = ahead.get()
        if start + chunk < n_docs:
            ahead = pool.map_async(_fingerprint, range(start + chunk, min(start + 2 * chunk, n_docs)))
        yield from current


def scale_benchmark(n_docs: int, queries: int, workers: int) -> None:
    """`n_docs` synthetic 5 KB documents (Zipf-distributed words); 5 KB outputs holding a 150-word copy.
    With `workers`, the documents are generated and tokenised in that many processes."""
    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    weights = 1.0 / np.arange(1, len(vocab) + 1)
    weights /= weights.sum()
    originals = _Synthetic(vocab, weights)
    matcher = TextMatcher(originals)
    rss0, t0 = rss_mb(), time.perf_counter()
    with contextlib.ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(
                workers, initializer=_worker_init, initargs=(vocab, weights)))
            fingerprints: Iterable[TextFingerprint] = _bounded(pool, n_docs)
        else:
            _worker_init(vocab, weights)
            fingerprints = map(_fingerprint, range(n_docs))
        for i, fingerprint in enumerate(fingerprints):
            matcher.add(f"s{i}", fingerprint)
            if (i + 1) % 50000 == 0:
                print(f"  {i + 1} enrolled, {time.perf_counter() - t0:.0f}s, +{rss_mb() - rss0:.0f} MB", flush=True)
    enroll_s = time.perf_counter() - t0
    growth = rss_mb() - rss0
    compact = matcher.index.compact
    if compact is not None:
        compact.windows.flush()
        compact.docs.flush()
        print(f"  index arrays: {compact.nbytes() / n_docs / 1024:.1f} KB a document "
              f"({compact.nbytes() / 2**20:.0f} MB for {n_docs})")
    lat, hits = [], 0
    for _ in range(queries):
        i = int(rng.integers(0, n_docs))
        start = int(rng.integers(0, 600))
        copy = originals.words(i)[start : start + 150]
        new = list(vocab[rng.choice(len(vocab), size=650, p=weights)])
        query = " ".join(new[:300] + copy + new[300:])
        t = time.perf_counter()
        found = matcher.search(load(query))  # type: ignore[arg-type]
        lat.append(time.perf_counter() - t)
        hits += bool(found) and found[0].work_id == f"s{i}"
    print(f"scale: {n_docs} synthetic 5 KB documents enrolled in {enroll_s:.0f}s ({n_docs / enroll_s:.0f}/s), "
          f"+{growth:.0f} MB RSS ({growth * 1024 / n_docs:.1f} KB a document); 5 KB queries with a 150-word copy: "
          f"recall@1 {hits / queries:.3f}, latency p50 {pct(lat, 50) * 1000:.1f} ms, p95 {pct(lat, 95) * 1000:.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--queries", type=int, default=100, help="queries per case")
    ap.add_argument("--scale", type=int, default=0, help="also run the synthetic scale test with N documents")
    ap.add_argument("--workers", type=int, default=1, help="processes that generate and tokenise the scale "
                    "test's documents (the index is built in this process)")
    ap.add_argument("--skip-dev", action="store_true", help="run only the scale test")
    args = ap.parse_args()
    if not args.skip_dev:
        dev_benchmark(args)
    if args.scale:
        scale_benchmark(args.scale, 200, args.workers)


if __name__ == "__main__":
    main()
