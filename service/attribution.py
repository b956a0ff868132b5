"""Attribution shares: how much of one output each matched work accounts for.

Method `confidence-x-coverage/1`: a match's weight is its confidence (the matcher's calibrated score) times
the share of the output it covers (texts: the share of the output's words copied from the work; images: the
area of the output the verified region covers, or the placed copy's area; code-only and other evidence: the
whole output). A check's shares are the weights divided by their sum (equal shares if every weight is 0), so
they sum to 1. Released matches take no share. Shares are floats, but money is never computed from them
directly: pools turn them into integer parts per billion first (`service.allocation`).
"""

from collections.abc import Sequence

from registry.evidence import Evidence, ImageEvidence, TextEvidence

SHARE_METHOD = "confidence-x-coverage/1"


def coverage(evidence: Evidence) -> float:
    """The share of the output, in [0.01, 1], that the evidence says the work accounts for."""
    if isinstance(evidence, TextEvidence):
        value = evidence.query_share
    elif isinstance(evidence, ImageEvidence) and evidence.geometry is not None:
        x0, y0, x1, y1 = evidence.geometry.query_box
        value = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    elif (isinstance(evidence, ImageEvidence) and evidence.dense is not None
          and evidence.dense.how in ("placed", "aligned") and evidence.dense.work_inside is not False):
        value = evidence.dense.scale ** 2  # the work placed in the output (a cut-out of the work covers it all)
    else:
        value = 1.0
    return min(1.0, max(0.01, value))


def shares(matches: Sequence[tuple[float, Evidence]]) -> list[float]:
    """Each match's share of the output (confidence times coverage, normalised), rounded to 9 decimals."""
    weights = [max(0.0, score) * coverage(evidence) for score, evidence in matches]
    total = sum(weights)
    if not matches:
        return []
    if total <= 0:
        return [round(1 / len(matches), 9)] * len(matches)
    return [round(w / total, 9) for w in weights]
