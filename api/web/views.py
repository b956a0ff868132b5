"""Evidence views, one per kind of evidence: the figures a reviewer reads, and the output beside the work.

A new kind of content registers its view in `VIEWS`; a match whose evidence has no view is shown with its
figures only, never silently as another kind.
"""

from typing import Protocol

from api.web.evidence import Box, Pair, excerpts
from api.web.media import dimensions
from registry.evidence import CodeEvidence, Evidence, ImageEvidence, TextEvidence


class EvidenceView(Protocol):
    def rows(self, evidence: Evidence) -> list[tuple[str, str]]: ...

    def strength(self, evidence: Evidence) -> str:
        """The evidence in a few words, next to the score (which is capped at 1.00 for strong and weak alike)."""
        ...

    def pair(self, evidence: Evidence, work_id: str, output: bytes | None, original: bytes | None) -> Pair: ...


def _box(box: tuple[float, float, float, float]) -> Box:
    x0, y0, x1, y1 = (min(1.0, max(0.0, float(v))) for v in box)
    return Box(x=x0, y=y0, w=max(0.0, x1 - x0), h=max(0.0, y1 - y0))


def region(evidence: ImageEvidence, side: str) -> Box | None:
    """The matched region in the output (`side="query"`) or the work (`side="work"`), if SIFT verified it."""
    if evidence.geometry is None:
        return None
    return _box(evidence.geometry.query_box if side == "query" else evidence.geometry.work_box)


class ImageView:
    def strength(self, evidence: Evidence) -> str:
        assert isinstance(evidence, ImageEvidence)
        if evidence.exact_pixels:
            return "identical pixels"
        parts = []
        if evidence.geometry is not None:
            parts.append(f"{evidence.geometry.inliers} matching local features")
        if evidence.pdq_distance is not None:
            parts.append(f"PDQ {evidence.pdq_distance}/256 bits apart")
        if evidence.dense is not None and not parts:
            parts.append(f"pixel structure aligned, correlation {evidence.dense.correlation:.2f}")
        if evidence.cosine is not None and not parts:
            parts.append(f"embedding similarity {evidence.cosine:.2f}")
        return ", ".join(parts) or "matched"

    def rows(self, evidence: Evidence) -> list[tuple[str, str]]:
        assert isinstance(evidence, ImageEvidence)
        rows: list[tuple[str, str]] = []
        if evidence.exact_pixels:
            rows.append(("Pixels", "identical"))
        if evidence.pdq_distance is not None:
            rows.append(("PDQ distance", f"{evidence.pdq_distance} of 256 bits"))
        if evidence.phash_distance is not None:
            rows.append(("pHash distance", f"{evidence.phash_distance} of 64 bits"))
        if evidence.cosine is not None:
            rows.append(("Embedding similarity", f"{evidence.cosine:.3f}"))
        if evidence.dense is not None:
            d = evidence.dense
            how = {"whole": "whole picture", "blocks": "whole picture, block by block", "rotated": "slightly rotated",
                   "placed": f"one inside the other, at {d.scale:.2f}x",
                   "aligned": f"one inside the other, at {d.scale:.2f}x, refined and compared block by block",
                   "inset": f"cut out of the output along its outline ({d.scale:.2f} of its size)"}.get(d.how, d.how)
            rows.append(("Dense alignment", f"correlation {d.correlation:.3f} ({how})"))
        g = evidence.geometry
        if g is not None:
            rows.append(("Matching local features", f"{g.inliers} (RANSAC inliers)"))
            rows.append(("Scale", f"{g.scale:.2f}x"))
            rows.append(("Rotation", f"{round(g.rotation_deg)}°"))
            if g.mirrored:
                rows.append(("Mirrored", "yes"))
        return rows

    def pair(self, evidence: Evidence, work_id: str, output: bytes | None, original: bytes | None) -> Pair:
        assert isinstance(evidence, ImageEvidence)
        pair = Pair(work_id=work_id)
        if output is not None:
            pair.output_dims, pair.output_box = dimensions(output), region(evidence, "query")
        if original is not None:
            pair.work_dims, pair.work_box = dimensions(original), region(evidence, "work")
        return pair


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class TextView:
    def strength(self, evidence: Evidence) -> str:
        assert isinstance(evidence, TextEvidence)
        return (f"{evidence.copied_words} words copied ({100 * evidence.query_share:.0f}% of the output), "
                f"longest passage {evidence.longest_passage_words} words")

    def rows(self, evidence: Evidence) -> list[tuple[str, str]]:
        assert isinstance(evidence, TextEvidence)
        rows = [("Copied words", f"{evidence.copied_words} of the output's {evidence.query_words}"),
                ("Share of the output", f"{100 * evidence.query_share:.0f}%"),
                ("Longest passage", f"{evidence.longest_passage_words} words "
                                    f"({evidence.longest_verbatim_words} word for word)"),
                ("Passages", str(len(evidence.passages)))]
        if evidence.boilerplate_words:
            rows.append(("Common boilerplate, not counted", f"{evidence.boilerplate_words} words"))
        return rows

    def pair(self, evidence: Evidence, work_id: str, output: bytes | None, original: bytes | None) -> Pair:
        assert isinstance(evidence, TextEvidence)
        pair = Pair(work_id=work_id)
        if output is not None:
            pair.output_excerpts = excerpts(_text(output), [p.q_chars for p in evidence.passages])
        if original is not None:
            pair.work_excerpts = excerpts(_text(original), [p.w_chars for p in evidence.passages])
        return pair


class CodeView:
    """A check sent as an ISCC code: only the codes' distance to show, no output to put beside the work."""

    def strength(self, evidence: Evidence) -> str:
        assert isinstance(evidence, CodeEvidence)
        return f"ISCC Content-Codes {evidence.distance}/{evidence.bits} bits apart (code only)"

    def rows(self, evidence: Evidence) -> list[tuple[str, str]]:
        assert isinstance(evidence, CodeEvidence)
        return [("ISCC Content-Code sent", evidence.query_code), ("Work's Content-Code", evidence.work_code),
                ("Distance", f"{evidence.distance} of {evidence.bits} bits")]

    def pair(self, evidence: Evidence, work_id: str, output: bytes | None, original: bytes | None) -> Pair:
        return Pair(work_id=work_id)


VIEWS: dict[type, EvidenceView] = {ImageEvidence: ImageView(), TextEvidence: TextView(), CodeEvidence: CodeView()}


def view_for(evidence: Evidence) -> EvidenceView:
    try:
        return VIEWS[type(evidence)]
    except KeyError:
        raise TypeError(f"no evidence view for {type(evidence).__name__}; register one in api/web/views.py") from None


def strength(evidence: Evidence) -> str:
    return view_for(evidence).strength(evidence)
