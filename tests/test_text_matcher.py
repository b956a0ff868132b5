"""Text matching: excerpts, edits, embedded copies, boilerplate, persistence, LSH against brute force."""

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from matcher.base import MemoryOriginals
from matcher.text.index import TextIndex, TextIndexParams
from matcher.text.matcher import TextMatcher
from matcher.text.normalize import tokenize
from matcher.text.shingles import shingle_hashes
from registry.content import Content, load_content
from registry.evidence import TextEvidence
from tests.conftest import FIXTURES


def content(text: str) -> Content:
    return load_content(text.encode("utf-8"), max_pixels=1, max_text_chars=10**8)


def enroll(matcher: TextMatcher, originals: MemoryOriginals, work_id: str, text: str) -> None:
    originals.data[work_id] = text.encode("utf-8")
    matcher.add(work_id, matcher.fingerprint(content(text)))


CHAPTERS = sorted((FIXTURES / "texts").glob("*.txt"))
OTHER = (FIXTURES / "unenrolled" / "emma-ch002.txt").read_text()


@pytest.fixture
def long_work() -> str:
    """About 10,000 words of real prose: the fixture chapters, twice, in two orders."""
    texts = [p.read_text() for p in CHAPTERS]
    return "\n\n".join(texts + texts[::-1])


@pytest.fixture
def setup(long_work: str) -> tuple[TextMatcher, MemoryOriginals]:
    originals = MemoryOriginals()
    matcher = TextMatcher(originals)
    enroll(matcher, originals, "long", long_work)
    for p in CHAPTERS:
        enroll(matcher, originals, p.stem, p.read_text())
    return matcher, originals


def test_150_word_excerpt_of_a_10000_word_work(setup: tuple[TextMatcher, MemoryOriginals], long_work: str) -> None:
    matcher, _ = setup
    words = long_work.split()
    assert len(words) > 9000
    rng = random.Random(7)
    for _ in range(10):
        start = rng.randrange(len(words) - 150)
        matches = matcher.search(content(" ".join(words[start : start + 150])))
        assert "long" in {m.work_id for m in matches}
        long_match = next(m for m in matches if m.work_id == "long")
        assert isinstance(long_match.evidence, TextEvidence) and long_match.evidence.copied_words >= 140


def test_quarter_share_embedded_copy_reports_the_passage(setup: tuple[TextMatcher, MemoryOriginals]) -> None:
    matcher, _ = setup
    source = CHAPTERS[1].read_text()
    words = source.split()
    copied = " ".join(words[300:450])
    new = OTHER.split()
    query = " ".join(new[:225]) + " " + copied + " " + " ".join(new[225:450])
    matches = matcher.search(content(query))
    hit = next(m for m in matches if m.work_id == CHAPTERS[1].stem)
    assert hit.score >= matcher.threshold
    assert isinstance(hit.evidence, TextEvidence)
    assert 0.2 <= hit.evidence.query_share <= 0.3
    passage = hit.evidence.passages[0]
    q0, q1 = passage.q_chars
    w0, w1 = passage.w_chars
    assert tokenize(query[q0:q1]).ids.tolist() == tokenize(source[w0:w1]).ids.tolist()
    assert passage.q_end - passage.q_start >= 145


def test_light_edits_and_ten_percent_word_edits(setup: tuple[TextMatcher, MemoryOriginals]) -> None:
    matcher, _ = setup
    text = CHAPTERS[0].read_text()
    shouty = text.upper().replace(",", "").replace("  ", " ").replace("\n", " ")
    assert matcher.search(content(shouty))[0].work_id == CHAPTERS[0].stem
    rng = random.Random(3)
    words = text.split()[200:400]
    edited = []
    for w in words:
        r = rng.random()
        if r < 0.033:
            edited.append("zzyzx")
        elif r < 0.066:
            continue
        elif r < 0.1:
            edited.extend([w, "quietly"])
        else:
            edited.append(w)
    found = {m.work_id for m in matcher.search(content(" ".join(edited)))}
    assert found == {CHAPTERS[0].stem, "long"}  # the long work holds this chapter too


def test_unrelated_text_does_not_match(setup: tuple[TextMatcher, MemoryOriginals]) -> None:
    matcher, _ = setup
    assert matcher.search(content(OTHER)) == []


def test_boilerplate_does_not_match_but_shared_passages_report_both() -> None:
    originals = MemoryOriginals()
    matcher = TextMatcher(originals)
    footer = ("This page is part of the example documentation project and may be freely copied and "
              "redistributed under the terms of the license that accompanies it in the source tree.")
    prose = OTHER.split()
    for i in range(8):
        body = " ".join(prose[i * 60 : i * 60 + 60])
        enroll(matcher, originals, f"doc{i}", body + " " + footer)
    assert matcher.search(content(footer)) == []
    shared = " ".join(CHAPTERS[2].read_text().split()[100:180])
    enroll(matcher, originals, "a", "Preface by the first editor. " + shared)
    enroll(matcher, originals, "b", shared + " Afterword by the second editor.")
    found = {m.work_id for m in matcher.search(content("Someone wrote: " + shared))}
    assert {"a", "b"} <= found and not found & {f"doc{i}" for i in range(8)}


def test_withdrawn_work_is_not_matched(setup: tuple[TextMatcher, MemoryOriginals]) -> None:
    matcher, _ = setup
    text = CHAPTERS[0].read_text()
    matcher.remove(CHAPTERS[0].stem)
    assert CHAPTERS[0].stem not in {m.work_id for m in matcher.search(content(text))}


def test_index_round_trips_through_its_files(setup: tuple[TextMatcher, MemoryOriginals], tmp_path: Path) -> None:
    matcher, originals = setup
    matcher.index.save(tmp_path / "text")
    again = TextMatcher(originals, index_dir=tmp_path / "text")
    assert again.work_ids() == matcher.work_ids()
    query = content(" ".join(CHAPTERS[2].read_text().split()[50:120]))
    assert [m.work_id for m in again.search(query)] == [m.work_id for m in matcher.search(query)]
    other = TextIndex(TextIndexParams(shingle=4))
    assert other.load(tmp_path / "text") is False  # saved with other parameters: rebuilt, never mixed


def test_lsh_candidates_against_exact_window_jaccard() -> None:
    """The approximate window index must return every work whose best window has exact Jaccard >= 0.4."""
    rng = np.random.default_rng(11)
    vocab = rng.integers(0, 2**32, size=3000, dtype=np.uint64).astype(np.uint32)
    index = TextIndex(TextIndexParams())
    docs = {}
    for i in range(200):
        words = vocab[rng.integers(0, len(vocab), size=int(rng.integers(150, 900)))]
        docs[f"d{i}"] = words
        index.add(f"d{i}", shingle_hashes(words, 3), shingle_hashes(words, 8))
    misses = checked = 0
    for _ in range(300):
        source = docs[f"d{rng.integers(0, 200)}"]
        length = int(rng.integers(40, 160))
        start = int(rng.integers(0, max(1, len(source) - length)))
        query = source[start : start + length].copy()
        noise = rng.random(len(query)) < 0.05
        query[noise] = vocab[rng.integers(0, len(vocab), size=int(noise.sum()))]
        q_sh = shingle_hashes(query, 3)
        q_set = set(q_sh.tolist())
        found = index.candidates(q_sh)
        for doc_id, words in docs.items():
            sh = shingle_hashes(words, 3)
            best = max(len(q_set & set(sh[a:b].tolist())) / len(q_set | set(sh[a:b].tolist()))
                       for a, b in index.window_bounds(len(sh)))
            if best >= 0.4:
                checked += 1
                misses += doc_id not in found
    assert checked >= 250
    assert misses / checked <= 0.01


REDIS_URL = os.environ.get("PROVENANCE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    import redis

    prefix = f"provenance-test:{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Redis not reachable ({exc}); set PROVENANCE_TEST_REDIS_URL")
    yield prefix
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        client.delete(key)


def test_redis_index_is_shared_and_matches_the_in_memory_one(redis_prefix: str) -> None:
    """Two matchers over one Redis (two replicas) see each other's works; results equal the local index."""
    originals = MemoryOriginals()
    local = TextMatcher(originals)
    a = TextMatcher(originals, redis_url=REDIS_URL, redis_prefix=redis_prefix)
    b = TextMatcher(originals, redis_url=REDIS_URL, redis_prefix=redis_prefix)
    for p in CHAPTERS:
        enroll(local, originals, p.stem, p.read_text())
        a.add(p.stem, a.fingerprint(content(p.read_text())))
    assert b.work_ids() == local.work_ids() == {p.stem for p in CHAPTERS}
    rng = random.Random(5)
    for p in CHAPTERS:
        words = p.read_text().split()
        start = rng.randrange(len(words) - 120)
        query = content(" ".join(words[start : start + 120]) + " " + OTHER[:400])
        assert [(m.work_id, m.score) for m in b.search(query)] == [(m.work_id, m.score) for m in local.search(query)]
    b.remove(CHAPTERS[0].stem)
    assert CHAPTERS[0].stem not in a.work_ids()
    assert a.search(content(CHAPTERS[0].read_text())) == []
    a.clear()
    assert len(b.index) == 0


def test_window_signatures_from_half_blocks_equal_datasketch_per_window() -> None:
    """The merged half-window blocks give exactly the MinHash that datasketch computes for each window."""
    index = TextIndex(TextIndexParams())
    rng = np.random.default_rng(3)
    for n in (1, 37, 100, 101, 150, 199, 200, 250, 873, 1000):
        shingles = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        sigs = index.signatures_for(shingles)
        bounds = index.window_bounds(n)
        assert len(sigs) == 1 + len(bounds)
        for sig, (a, b) in zip(sigs, [(0, n), *bounds], strict=True):
            reference = MinHash(num_perm=index.params.num_perm, seed=index.params.seed, hashfunc=lambda v: v,
                                permutations=index._template.permutations, scheme=index._template.scheme)
            reference.update_batch(shingles[a:b].tolist())
            assert np.array_equal(sig.hashvalues, reference.hashvalues), (n, a, b)


def test_shingle_counts_in_runs_equal_a_counter() -> None:
    """The compact document-frequency counts (sorted runs merged by size) against a plain Counter, through
    additions, removals, flushes of every size and a merge into one run."""
    from collections import Counter

    from matcher.text.compact import Counts

    rng = np.random.default_rng(3)
    counts, reference = Counts(merge_every=50), Counter[int]()
    added: list[np.ndarray] = []
    for step in range(400):
        if added and rng.random() < 0.3:
            shingles = added.pop(int(rng.integers(len(added))))
            counts.change(shingles, -1)
            reference.subtract(shingles.tolist())
        else:
            shingles = np.unique(rng.integers(0, 500, 20).astype(np.uint32))
            added.append(shingles)
            counts.change(shingles, +1)
            reference.update(shingles.tolist())
        if step % 37 == 0:
            probe = list(range(0, 520, 3))
            assert counts.get(probe) == [reference[h] for h in probe]
    assert len(counts.runs) > 1
    counts.merge()
    keys = counts.keys.tolist()
    assert keys == sorted(k for k, v in reference.items() if v) and len(counts.runs) <= 1
    assert counts.counts.tolist() == [reference[k] for k in keys]


def test_band_pairs_equal_the_per_row_sets() -> None:
    """`BandTable.query_pairs` (arrays, for queries with many collisions) names the same (row, item) pairs
    as `query_many` (a set per row), with entries both pending and in merged runs."""
    from matcher.text.compact import BandTable

    rng = np.random.default_rng(5)
    table = BandTable(bands=8, rows=2, flush_every=50)
    values = rng.integers(0, 4, (300, 16)).astype(np.uint64)  # few distinct values: many collisions
    table.add(np.arange(300, dtype=np.uint32), table.band_keys(values))  # flushed into runs...
    table.add(np.arange(300, 320, dtype=np.uint32), table.band_keys(values[:20]))  # ...and pending
    query = table.band_keys(rng.integers(0, 4, (25, 16)).astype(np.uint64))
    rows, items = table.query_pairs(query)
    expected = {(r, i) for r, found in enumerate(table.query_many(query)) for i in found}
    assert set(zip(rows.tolist(), items.tolist(), strict=True)) == expected and expected
