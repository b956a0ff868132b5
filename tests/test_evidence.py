"""Typed evidence: checks stored before the evidence structs existed still decode, to the same figures."""

import json
import sqlite3
from pathlib import Path

from registry.evidence import ImageEvidence, TextEvidence
from registry.ids import new_id, utcnow
from registry.models import Check, Role, Verdict, WorkKind
from registry.sqlite_store import SQLiteStore

# the evidence JSON as the matchers wrote it before these types (session 2's `dict[str, Any]`)
OLD_IMAGE = {"signal": "image", "exact_pixels": False, "pdq_distance": 12, "pdq_quality": {"query": 80, "work": 90},
             "phash_distance": 6, "cosine": 0.9312, "embedder": "efficientnet_lite0@timm-1.0",
             "geometry": {"inliers": 41, "matches": 63, "scale": 0.7512, "rotation_deg": -3.2, "mirrored": True,
                          "work_box": [0.1, 0.05, 0.9, 0.8], "query_box": [0.0, 0.0, 1.0, 1.0]},
             "query_pdq": "ab" * 32}
OLD_TEXT = {"signal": "text", "copied_words": 150, "query_words": 600, "work_words": 4000, "query_share": 0.25,
            "containment": 0.23, "jaccard": 0.03, "boilerplate_words": 0, "longest_passage_words": 150,
            "longest_verbatim_words": 150,
            "passages": [{"q_start": 225, "q_end": 375, "w_start": 300, "w_end": 450, "matched_words": 150,
                          "q_chars": [1300, 2200], "w_chars": [1700, 2600], "longest_run": 150,
                          "original_words": 150}]}


def _old_match(evidence: dict[str, object]) -> dict[str, object]:
    return {"work_id": "wrk_1", "score": 0.97, "evidence": evidence, "title": "t", "owner_id": "acc_1",
            "license": {"id": "CC-BY-4.0", "attribution_required": True, "commercial_use": False},
            "opt_outs": {}, "requirement": "attribution_required"}


def test_checks_stored_before_the_typed_evidence_still_decode(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite3"
    store = SQLiteStore(db)
    op = store.create_account("op", Role.OPERATOR, "system")
    check = store.add_check(Check(id=new_id("chk"), account_id=op.id, created_at=utcnow(), purpose="release",
                                  kind=WorkKind.IMAGE, sha256="0" * 64, verdict=Verdict.CLEAR, matches=[],
                                  matcher_version="old"), op.id)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE checks SET matches = ? WHERE id = ?",
                     (json.dumps([_old_match(OLD_IMAGE), _old_match(OLD_TEXT)]), check.id))
    image, text = store.get_check(check.id).matches
    assert isinstance(image.evidence, ImageEvidence) and isinstance(text.evidence, TextEvidence)
    assert image.evidence.geometry is not None and image.evidence.geometry.inliers == 41
    assert image.evidence.geometry.work_box == (0.1, 0.05, 0.9, 0.8) and image.evidence.pdq_distance == 12
    assert image.evidence.pdq_quality is not None and image.evidence.pdq_quality.work == 90
    assert text.evidence.passages[0].w_chars == (1700, 2600) and text.evidence.copied_words == 150
    store.close()
