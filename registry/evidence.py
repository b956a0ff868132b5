"""Typed evidence of a match, one tagged struct per modality (the `signal` field names it).

The matchers build these, the store keeps them as JSON inside each check, and the faces read their fields
by name, so a renamed field is a type error, not a silently missing row. Checks stored before these types
existed carry the same JSON (with the same `signal` tag) and decode unchanged.
"""

import msgspec


class Geometry(msgspec.Struct, frozen=True, kw_only=True):
    """A RANSAC-verified similarity transform between the work and the query, with the matched regions."""

    inliers: int
    matches: int
    scale: float
    rotation_deg: float
    mirrored: bool
    work_box: tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the work's width and height
    query_box: tuple[float, float, float, float]  # the same region in the query


class PdqQuality(msgspec.Struct, frozen=True, kw_only=True):
    query: int
    work: int


class DenseAlignment(msgspec.Struct, frozen=True, kw_only=True):
    """The two pictures aligned at low resolution and compared pixel by pixel (pictures with too few local
    features): the band-pass correlation, how they were aligned ("whole", "blocks": whole but block by block,
    "rotated", "placed": one inside the other, "aligned": that placement refined at a larger size and compared
    block by block, "inset": a rectangle of the query cut out along its outline and compared whole) and, when
    placed or cut out, the smaller one's size relative to the larger and whether the work is the smaller one
    (placed in the output) or the output is (cut out of the work)."""

    correlation: float
    how: str
    scale: float = 1.0
    work_inside: bool | None = None


class ImageEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="signal", tag="image"):
    """Why an image matched: the value of each signal that saw the pair (None: the signal did not)."""

    exact_pixels: bool = False
    pdq_distance: int | None = None  # Hamming distance of the PDQ hashes, of 256 bits
    pdq_quality: PdqQuality | None = None
    phash_distance: int | None = None  # of 64 bits
    cosine: float | None = None  # embedding similarity of the best region pair
    embedder: str = "none"  # name@version of the embedder behind `cosine`
    geometry: Geometry | None = None  # local features verified by RANSAC
    dense: DenseAlignment | None = None  # dense verification, when it ran
    query_pdq: str = ""  # the query's PDQ hash, hex
    signals: dict[str, float] = msgspec.field(default_factory=dict)  # every signal's raw value, by signal name


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """A copied passage: words [q_start, q_end) of the query match words [w_start, w_end) of the work;
    `q_chars` and `w_chars` are the same passage as character offsets."""

    q_start: int
    q_end: int
    w_start: int
    w_end: int
    matched_words: int
    q_chars: tuple[int, int] = (0, 0)
    w_chars: tuple[int, int] = (0, 0)
    longest_run: int = 0
    original_words: int = 0


class TextEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="signal", tag="text"):
    """Why a text matched: how much of the query was copied from the work, and where."""

    copied_words: int
    query_words: int
    work_words: int
    query_share: float
    containment: float
    jaccard: float
    boilerplate_words: int = 0
    longest_passage_words: int = 0
    longest_verbatim_words: int = 0
    passages: list[Passage] = msgspec.field(default_factory=list)


class CodeEvidence(msgspec.Struct, frozen=True, kw_only=True, tag_field="signal", tag="iscc"):
    """Why a code-only check matched: the ISCC Content-Codes of the output (as sent) and of the work are this
    many bits apart, of 64. No pixels or words were compared: the caller sent only the code."""

    query_code: str
    work_code: str
    distance: int
    bits: int = 64


Evidence = ImageEvidence | TextEvidence | CodeEvidence
