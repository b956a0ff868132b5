"""What the registry publishes about a work without a key, in the forms crawlers, trainers and C2PA tools read.

- The **declaration** (`GET /public/works/{id}`): the work's reservation in every vocabulary (CAWG, IPTC,
  TDMRep, AIPREF, X-Robots-Tag), its licence, ISCC and SHA-256, signed with the registry's Ed25519 key over
  its RFC 8785 (JCS) canonical form without the `signature` member, so a trainer can keep it and check it
  offline (`verify_declaration`). Title, owner and locations appear only when the creator publishes them.
- The **policy** (`GET /public/policies/{id}`): an ODRL 2.2 `Offer` in JSON-LD with the TDMRep profile: mining
  (`tdm:mine`) permitted, with the duty `obtainConsent` when the work is reserved and `compensate` when it
  offers a priced licence for mining or training.
- For a creator's site: **tdmrep.json** rules (one exact-path rule per location, `$`-anchored, reserved ones
  first for a path two works share, and an optional catch-all last: TDMRep applies the first rule that
  matches), a Spawning **ai.txt** and a **robots.txt** fragment for the AI crawlers that name their purpose.
"""

import base64
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jcs
import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from matcher.iscc import iscc_units
from registry.crosswalk import (
    AIPREF_DRAFT,
    PLUS_VOCAB,
    TDM_MINING_KEYS,
    constraint_text,
    content_usage,
    iptc_data_mining,
    robots_directives,
    spawning_reserved,
    tdm_reservation,
)
from registry.models import Work, WorkKind, WorkStatus

DECLARATION_TYPE = "provenance.declaration.v1"
TDMREP_PROFILE = "http://www.w3.org/ns/tdmrep"
ODRL_CONTEXT = "http://www.w3.org/ns/odrl.jsonld"
# crawlers whose operators say they collect for AI training, and those that fetch for answers (inference)
TRAINING_CRAWLERS = ("GPTBot", "Google-Extended", "CCBot", "ClaudeBot", "anthropic-ai", "Applebot-Extended",
                     "Bytespider", "meta-externalagent", "cohere-training-data-crawler")
INFERENCE_AGENTS = ("ChatGPT-User", "Claude-User", "Perplexity-User", "PerplexityBot")


def declaration_url(base: str, work_id: str) -> str:
    return f"{base}/public/works/{work_id}"


def policy_url(base: str, work_id: str) -> str:
    return f"{base}/public/policies/{work_id}"


def declaration(work: Work, base: str, owner_name: str, key_id: str, issued_at: datetime) -> dict[str, Any]:
    """The unsigned declaration of an active or contested work (a withdrawn one: `withdrawal`)."""
    opt_outs, license = work.opt_outs, work.license
    dmi, other = iptc_data_mining(opt_outs)
    reserved = tdm_reservation(opt_outs)
    robots = robots_directives(opt_outs, image=work.kind == WorkKind.IMAGE)
    doc: dict[str, Any] = {
        "type": DECLARATION_TYPE, "id": declaration_url(base, work.id), "work_id": work.id,
        "status": work.status.value, "kind": work.kind.value, "media_type": work.media_type,
        "sha256": work.sha256, "iscc": work.iscc or None, "iscc_units": iscc_units(work.iscc) if work.iscc else None,
        "enrolled_at": work.created_at,
        "license": {"spdx": None if license.id == "custom" else license.id, "id": license.id,
                    "terms_url": license.terms_url, "attribution_required": license.attribution_required,
                    "commercial_use": license.commercial_use,
                    "offers": msgspec.to_builtins(list(work.offers)),
                    "request_licence": f"{base}/v1/grants"},
        "release": opt_outs.release_use,
        "cawg.training-mining": opt_outs.to_cawg(),
        "iptc": {"plus:DataMining": PLUS_VOCAB + dmi, **({"plus:OtherConstraints": other} if other else {})},
        "tdmrep": {"tdm-reservation": reserved, **({"tdm-policy": policy_url(base, work.id)} if reserved else {})},
        "content_usage": {"value": content_usage(opt_outs), "vocabulary": AIPREF_DRAFT},
        "x_robots_tag": ", ".join(robots) or None,
        "issued_at": issued_at, "key_id": key_id, "key_url": f"{base}/public/key",
    }
    if work.publish.title:
        doc["title"] = work.title
    if work.publish.owner:
        doc["owner"] = owner_name
        doc["locations"] = list(work.locations)
    return doc


def withdrawal(work: Work, base: str, key_id: str, issued_at: datetime) -> dict[str, Any]:
    """The unsigned notice that a work was withdrawn (served with 410): the registry no longer speaks for it."""
    return {"type": DECLARATION_TYPE, "id": declaration_url(base, work.id), "work_id": work.id,
            "status": WorkStatus.WITHDRAWN.value, "withdrawn_at": work.withdrawn_at, "sha256": work.sha256,
            "iscc": work.iscc or None, "issued_at": issued_at, "key_id": key_id, "key_url": f"{base}/public/key"}


def canonical(doc: dict[str, Any]) -> bytes:
    """RFC 8785 (JCS) bytes of `doc` without its `signature` member: what the signature covers."""
    body = msgspec.to_builtins({k: v for k, v in doc.items() if k != "signature"})
    return bytes(jcs.canonicalize(body))


def sign(doc: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """`doc` with `signature` (base64 Ed25519 over `canonical(doc)`), every value as JSON would carry it."""
    signature = base64.b64encode(key.sign(canonical(doc))).decode()
    return {**msgspec.to_builtins(doc), "signature": signature}


def verify_declaration(doc: dict[str, Any], public: Ed25519PublicKey) -> bool:
    """Whether a declaration (as decoded from JSON) carries a valid signature of `public`."""
    try:
        public.verify(base64.b64decode(str(doc.get("signature", ""))), canonical(doc))
    except (InvalidSignature, ValueError):
        return False
    return True


def odrl_policy(work: Work, base: str, owner_name: str) -> dict[str, Any]:
    """The work's TDM policy: an ODRL `Offer` with the TDMRep profile (JSON-LD)."""
    opt_outs, license = work.opt_outs, work.license
    duties: list[dict[str, str]] = []
    if tdm_reservation(opt_outs):
        duties.append({"action": "obtainConsent"})
    if license.fee is not None or any(o.price.amount_minor > 0 and set(o.purposes) & set(TDM_MINING_KEYS)
                                      for o in work.offers):
        duties.append({"action": "compensate"})
    permission: dict[str, Any] = {"target": declaration_url(base, work.id), "action": "tdm:mine"}
    if duties:
        permission["duty"] = duties
    assigner: dict[str, Any] = {"uid": f"{declaration_url(base, work.id)}#rightsholder",
                                "vcard:url": declaration_url(base, work.id)}
    if work.publish.owner:
        assigner["vcard:fn"] = owner_name
    policy: dict[str, Any] = {
        "@context": [ODRL_CONTEXT, {"tdm": "http://www.w3.org/ns/tdmrep#", "vcard": "http://www.w3.org/2006/vcard/ns#",
                                    "dcterms": "http://purl.org/dc/terms/"}],
        "@type": "Offer", "profile": TDMREP_PROFILE, "uid": policy_url(base, work.id),
        "assigner": assigner, "permission": [permission],
        "dcterms:description": _describe(work),
    }
    if license.terms_url:
        policy["dcterms:license"] = license.terms_url
    return policy


def _describe(work: Work) -> str:
    return f"Uses of this work for text and data mining and AI: {constraint_text(work.opt_outs)}."


# -- files for a creator's site ---------------------------------------------------------------------------------
def _path_pattern(url: str) -> str:
    """A location's path (and query) as a TDMRep/robots pattern matching only itself: `*` and `$`
    percent-encoded, anchored with `$`."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return path.replace("*", "%2A").replace("$", "%24") + "$"


def on_host(work: Work, host: str) -> list[str]:
    return [u for u in work.locations if (urlsplit(u).hostname or "") == host]


def tdmrep_rules(works: Iterable[Work], host: str, base: str, reserve_rest: bool | None = None) -> list[dict[str, Any]]:
    """The `/.well-known/tdmrep.json` array for `host`: a rule per location of `works` on it (a reserved rule
    first when two works share a path, so the stricter applies), then, if `reserve_rest` is set, a catch-all
    `/` rule saying what every other path of the site declares."""
    rules: dict[str, dict[str, Any]] = {}
    for work in works:
        reserved = tdm_reservation(work.opt_outs)
        for url in on_host(work, host):
            pattern = _path_pattern(url)
            if pattern in rules and rules[pattern]["tdm-reservation"] >= reserved:
                continue
            rule: dict[str, Any] = {"location": pattern, "tdm-reservation": reserved}
            if reserved:
                rule["tdm-policy"] = policy_url(base, work.id)
            rules[pattern] = rule
    out = sorted(rules.values(), key=lambda r: r["location"])
    if reserve_rest is not None:
        out.append({"location": "/", "tdm-reservation": int(reserve_rest)})
    return out


def ai_txt(works: Sequence[Work], host: str) -> str:
    """Spawning's ai.txt for `host`: the works' paths disallowed or allowed for AI training."""
    lines = ["# ai.txt for " + host + ", made by Provenance from its creators' opt-outs", "User-Agent: *"]
    for work in works:
        verb = "Disallow" if spawning_reserved(work.opt_outs) else "Allow"
        lines += [f"{verb}: {_path_pattern(url).removesuffix('$')}" for url in on_host(work, host)]
    return "\n".join(lines) + "\n"


def robots_fragment(works: Sequence[Work], host: str) -> str:
    """robots.txt groups for the AI crawlers: training crawlers kept from the works reserved for AI training,
    answer-fetching agents from those reserved for AI inference. robots.txt cannot say uses, only crawlers."""
    training = sorted({_path_pattern(u) for w in works if spawning_reserved(w.opt_outs) for u in on_host(w, host)})
    inference = sorted({_path_pattern(u) for w in works if w.opt_outs.ai_inference.use != "allowed"
                        for u in on_host(w, host)})
    lines = [f"# robots.txt fragment for {host}, made by Provenance: add it to the site's robots.txt"]
    for agents, paths in ((TRAINING_CRAWLERS, training), (INFERENCE_AGENTS, inference)):
        if not paths:
            continue
        lines += [""] + [f"User-agent: {a}" for a in agents] + [f"Disallow: {p}" for p in paths]
    return "\n".join(lines) + "\n"
