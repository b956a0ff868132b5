"""The opt-outs in the vocabularies crawlers, trainers and C2PA tools read, and back.

The registry stores one vocabulary, CAWG's training-and-data-mining uses (`registry.terms.OptOuts`); the
others are mapped to at emission time and from when a file declares them, so that a vocabulary that
changes (AIPREF is a draft) changes one function here, never the stored terms:

- CAWG `cawg.training-mining` 1.1: the uses themselves (`OptOuts.to_cawg`); legacy `c2pa.*` labels read.
- IPTC Photo Metadata `plus:DataMining` (PLUS vocabulary): one value for the whole set of uses.
- W3C TDMRep: `tdm-reservation` 1 when any text-and-data-mining use (mining, AI training, generative
  training) is not allowed; the conditions go in the ODRL policy (`service.publication`).
- IETF AIPREF `Content-Usage` (draft-ietf-aipref-vocab-06, draft-ietf-aipref-attach): `bots` (automated
  processing) from `data_mining`, `train-ai` from `ai_training`, `train-genai` from `ai_generative_training`;
  `y` only for `allowed` (a constrained use cannot be said in the header, so it says `n`).
- `X-Robots-Tag: noai, noimageai` (DeviantArt's and Spawning's directives, read by `datadiligence`).

A `constrained` use counts as not allowed wherever a vocabulary cannot carry its condition (CAWG's rule).
"""

from collections.abc import Mapping

from registry.terms import TDM_KEYS, OptOuts, TdmChoice

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
DMI_UNSPECIFIED = "DMI-UNSPECIFIED"
DMI_ALLOWED = "DMI-ALLOWED"
DMI_PROHIBITED = "DMI-PROHIBITED"
DMI_AIML = "DMI-PROHIBITED-AIMLTRAINING"
DMI_GENAIML = "DMI-PROHIBITED-GENAIMLTRAINING"
DMI_EXCEPT_SEARCH = "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
DMI_SEE_CONSTRAINT = "DMI-PROHIBITED-SEECONSTRAINT"
DMI_SEE_EMBEDDED = "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR"
DMI_SEE_LINKED = "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR"
AIPREF_DRAFT = "draft-ietf-aipref-vocab-06"
TDM_MINING_KEYS = ("data_mining", "ai_training", "ai_generative_training")  # what TDMRep's reservation covers
_AIPREF = (("bots", "data_mining"), ("train-ai", "ai_training"), ("train-genai", "ai_generative_training"))
_LABELS = {f"{prefix}.{key}": key for key in TDM_KEYS for prefix in ("cawg", "c2pa")}


def _uses(opt_outs: OptOuts) -> dict[str, str]:
    return {key: getattr(opt_outs, key).use for key in TDM_KEYS}


def iptc_data_mining(opt_outs: OptOuts) -> tuple[str, str | None]:
    """The `plus:DataMining` value (PLUS vocabulary term, without its namespace) and, for
    `DMI-PROHIBITED-SEECONSTRAINT`, the text for `plus:OtherConstraints`.

    One term covers every use, so a set of uses the vocabulary has no term for is said as "prohibited, see
    the constraint", with the constraint spelling out each use: never more permissive than the opt-outs."""
    uses = _uses(opt_outs)
    values = set(uses.values())
    if values == {"allowed"}:
        return DMI_ALLOWED, None
    if values == {"notAllowed"}:
        return DMI_PROHIBITED, None
    rest_allowed = uses["data_mining"] == "allowed" and uses["ai_inference"] == "allowed"
    if rest_allowed and uses["ai_training"] == "notAllowed" and uses["ai_generative_training"] == "notAllowed":
        return DMI_AIML, None
    if rest_allowed and uses["ai_training"] == "allowed" and uses["ai_generative_training"] == "notAllowed":
        return DMI_GENAIML, None
    return DMI_SEE_CONSTRAINT, constraint_text(opt_outs)


def constraint_text(opt_outs: OptOuts) -> str:
    """Each use in words, for `plus:OtherConstraints` (e.g. "ai_training: not allowed; data_mining: allowed")."""
    words = {"allowed": "allowed", "notAllowed": "not allowed", "constrained": "allowed only under a licence"}
    parts = []
    for key in TDM_KEYS:
        choice: TdmChoice = getattr(opt_outs, key)
        text = f"{key}: {words[choice.use]}"
        if choice.constraint_info:
            text += f" ({choice.constraint_info})"
        parts.append(text)
    return "; ".join(parts)


def tdm_reservation(opt_outs: OptOuts) -> int:
    """TDMRep's `tdm-reservation`: 1 when mining, AI training or generative training is not simply allowed."""
    return int(any(getattr(opt_outs, key).use != "allowed" for key in TDM_MINING_KEYS))


def content_usage(opt_outs: OptOuts) -> str:
    """The AIPREF `Content-Usage` header value (a structured-field dictionary), e.g. `bots=y, train-ai=n`."""
    return ", ".join(f"{label}={'y' if getattr(opt_outs, key).use == 'allowed' else 'n'}"
                     for label, key in _AIPREF)


def robots_directives(opt_outs: OptOuts, image: bool) -> list[str]:
    """`X-Robots-Tag` directives: `noai` when AI training is not allowed (either kind), plus `noimageai` for
    images, as DeviantArt and Spawning defined them. Empty when both trainings are allowed."""
    if all(getattr(opt_outs, key).use == "allowed" for key in ("ai_training", "ai_generative_training")):
        return []
    return ["noai", "noimageai"] if image else ["noai"]


def spawning_reserved(opt_outs: OptOuts) -> bool:
    """Whether Spawning's ai.txt should disallow the work: its only question is AI training (either kind)."""
    return bool(robots_directives(opt_outs, image=False))


# -- reading what files declare -------------------------------------------------------------------------------
def from_cawg_entries(entries: Mapping[str, object]) -> dict[str, TdmChoice]:
    """The uses a CAWG (or legacy C2PA 1.x) training-and-data-mining assertion's `entries` declare; entries
    with unknown labels or values are skipped, a `constrained` one without information keeps a pointer to the
    file (CAWG reads it as not allowed either way)."""
    found: dict[str, TdmChoice] = {}
    for label, value in entries.items():
        key = _LABELS.get(label)
        if key is None or not isinstance(value, Mapping):
            continue
        use = value.get("use")
        info = value.get("constraint_info")
        if use == "allowed" or use == "notAllowed":
            found[key] = TdmChoice(use=use)
        elif use == "constrained":
            text = info if isinstance(info, str) and info.strip() else "constrained in the file's C2PA manifest"
            found[key] = TdmChoice(use="constrained", constraint_info=text[:2000])
    return found


def from_iptc(value: str, other_constraints: str | None = None) -> dict[str, TdmChoice]:
    """The uses a `plus:DataMining` value declares (with or without its namespace); an unknown or unspecified
    value declares none. A "see the constraint / rights expression" value is `constrained` with the file's
    `plus:OtherConstraints` text when it has one."""
    term = value.strip().removeprefix(PLUS_VOCAB)
    no = TdmChoice(use="notAllowed")
    yes = TdmChoice(use="allowed")
    if term == DMI_ALLOWED:
        return dict.fromkeys(TDM_KEYS, yes)
    if term in (DMI_PROHIBITED, DMI_EXCEPT_SEARCH):
        return dict.fromkeys(TDM_KEYS, no)
    if term == DMI_AIML:
        return {"ai_training": no, "ai_generative_training": no}
    if term == DMI_GENAIML:
        return {"ai_generative_training": no}
    if term in (DMI_SEE_CONSTRAINT, DMI_SEE_EMBEDDED, DMI_SEE_LINKED):
        info = (other_constraints or "").strip() or f"see the file's IPTC rights expression ({term})"
        return dict.fromkeys(TDM_KEYS, TdmChoice(use="constrained", constraint_info=info[:2000]))
    return {}
