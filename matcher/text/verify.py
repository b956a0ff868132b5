"""Exact verification of a text candidate: which passages of the query were copied from the work.

Seed-and-extend over word ids: every query shingle found in the work seeds a run that is extended word
by word; runs that continue each other after a few edited words are merged into one copied passage.
The result carries the passages with word and character offsets in both texts.
"""

from collections import defaultdict

import msgspec
import numpy as np
import numpy.typing as npt

from matcher.text.normalize import Tokens
from registry.evidence import Passage


class Span(Passage, frozen=True, kw_only=True):
    """A copied passage (the evidence's `Passage`) with the exact runs it was merged from."""

    runs: list[tuple[int, int]] = msgspec.field(default_factory=list)  # (q_start, length) of exact runs

    def summary(self) -> Passage:
        """The passage as evidence: offsets in both texts and how much of it was copied."""
        return Passage(**{name: getattr(self, name) for name in Passage.__struct_fields__})


MAX_COMPARED = 4_000_000  # word comparisons per (query, work) pair: bounds one check's verification work
_CANDIDATE_POSITIONS = 64  # work positions tried for each seed


def _extend(q: npt.NDArray[np.uint32], w: npt.NDArray[np.uint32], i: int, p: int, start: int) -> int:
    """How far the exact run at q[i:], w[p:] goes, given that its first `start` words match; compared in
    growing NumPy slices, so a long run costs C-speed comparisons, not a Python loop per word."""
    limit = min(len(q) - i, len(w) - p)
    length, step = start, 32
    while length < limit:
        end = min(limit, length + step)
        differ = np.flatnonzero(q[i + length : i + end] != w[p + length : p + end])
        if len(differ):
            return length + int(differ[0])
        length, step = end, step * 4
    return length


def _runs(q: npt.NDArray[np.uint32], w: npt.NDArray[np.uint32], seed: int) -> list[tuple[int, int, int]]:
    """Maximal exact runs (q_pos, w_pos, length) of at least `seed` words, greedy left to right.

    The work is bounded: at most `_CANDIDATE_POSITIONS` positions per seed and `MAX_COMPARED` compared
    words per pair; past the budget, the runs found so far are the answer (a repetitive text spends it)."""
    if len(q) < seed or len(w) < seed:
        return []
    index: defaultdict[tuple[int, ...], list[int]] = defaultdict(list)
    wl, ql = w.tolist(), q.tolist()
    for p in range(len(wl) - seed + 1):
        positions = index[tuple(wl[p : p + seed])]
        if len(positions) < _CANDIDATE_POSITIONS:
            positions.append(p)
    runs: list[tuple[int, int, int]] = []
    i, compared = 0, 0
    while i <= len(ql) - seed and compared < MAX_COMPARED:
        found = index.get(tuple(ql[i : i + seed]))
        if not found:
            i += 1
            continue
        best_p, best_len = -1, 0
        for p in found:
            length = _extend(q, w, i, p, seed)
            compared += length
            if length > best_len:
                best_p, best_len = p, length
        runs.append((i, best_p, best_len))
        i += best_len
    return runs


def copied_spans(query: Tokens, work: Tokens, *, seed: int = 4, max_gap: int = 6, min_words: int = 8,
                 boilerplate: npt.NDArray[np.bool_] | None = None) -> list[Span]:
    """Copied passages, exact runs merged across gaps of `max_gap` words; kept when at least `min_words`
    matched words are original (not covered by `boilerplate`, a per-query-word mask)."""
    merged: list[list[int]] = []  # [q_start, q_end, w_start, w_end, run index from, run index to]
    runs = _runs(query.ids, work.ids, seed)
    for k, (qi, wp, length) in enumerate(runs):
        if merged:
            last = merged[-1]
            q_gap, w_gap = qi - last[1], wp - last[3]
            if 0 <= q_gap <= max_gap and 0 <= w_gap <= max_gap:
                last[1], last[3], last[5] = qi + length, wp + length, k + 1
                continue
        merged.append([qi, qi + length, wp, wp + length, k, k + 1])
    spans = []
    for qs, qe, ws, we, r0, r1 in merged:
        inside = [(qi, length) for qi, _, length in runs[r0:r1]]
        matched = sum(length for _, length in inside)
        original = matched if boilerplate is None else sum(
            length - int(boilerplate[qi : qi + length].sum()) for qi, length in inside)
        if original < min_words:
            continue
        spans.append(Span(
            q_start=qs, q_end=qe, w_start=ws, w_end=we, matched_words=matched,
            q_chars=(int(query.starts[qs]), int(query.ends[qe - 1])),
            w_chars=(int(work.starts[ws]), int(work.ends[we - 1])),
            longest_run=max(length for _, length in inside), original_words=original, runs=inside,
        ))
    return spans
