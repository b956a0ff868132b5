"""Read the training-and-data-mining choices a file already declares: a C2PA manifest's training-mining
assertion and an XMP packet's IPTC `plus:DataMining` value.

C2PA manifests are read offline with `c2pa-python` (the Content Authenticity Initiative's library). A
manifest whose integrity fails (the file was changed after signing, a hash or the claim signature does not
verify) is ignored; one signed by a certificate on no trust list is read, and the source says so (the
registry keeps no C2PA trust list). The active manifest's assertion wins over older ones. XMP is found by
scanning the bytes for the packet (Adobe's fallback method, the same for JPEG, PNG, WebP, TIFF and GIF)
and parsed with `defusedxml`. Nothing here fails an enrollment: a file that declares nothing, or declares
it in a form that cannot be read, declares nothing.
"""

import io
import json
import logging
import re
from xml.etree.ElementTree import Element

import msgspec
from defusedxml import ElementTree

from registry.crosswalk import from_cawg_entries, from_iptc
from registry.terms import TdmChoice

log = logging.getLogger("provenance.rights")
TRAINING_MINING_LABELS = ("cawg.training-mining", "c2pa.training-mining")
PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_XMP = re.compile(rb"<x:xmpmeta[\s>].*?</x:xmpmeta>", re.DOTALL)
_C2PA_FORMATS = {"image/jpeg", "image/png", "image/webp", "image/tiff", "image/gif"}
MAX_XMP_BYTES = 1 << 20


class Declared(msgspec.Struct, frozen=True, kw_only=True):
    """The uses a file declares, by opt-out key, and where each came from (e.g. `c2pa:cawg.training-mining`)."""

    uses: dict[str, TdmChoice] = {}
    sources: dict[str, str] = {}


def declared_rights(data: bytes, media_type: str) -> Declared:
    """What the file declares: the C2PA assertion's uses first, then XMP's for the uses C2PA left out."""
    uses: dict[str, TdmChoice] = {}
    sources: dict[str, str] = {}
    for found, source in (_from_c2pa(data, media_type), _from_xmp(data)):
        for key, choice in found.items():
            if key not in uses:
                uses[key], sources[key] = choice, source
    return Declared(uses=uses, sources=sources)


def _from_c2pa(data: bytes, media_type: str) -> tuple[dict[str, TdmChoice], str]:
    if media_type not in _C2PA_FORMATS or b"c2pa" not in data:  # no JUMBF box labelled c2pa: no manifest
        return {}, ""
    try:
        import c2pa

        with c2pa.Reader(media_type, io.BytesIO(data)) as reader:
            store = json.loads(reader.json())
    except Exception as exc:  # no manifest, or one the library cannot read: the file declares nothing here
        log.info("no readable C2PA manifest: %s", exc)
        return {}, ""
    if store.get("validation_state") == "Invalid" or _integrity_failed(store):
        log.info("C2PA manifest ignored: its integrity does not verify")
        return {}, ""
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest") or "") or {}
    trusted = store.get("validation_state") == "Trusted"
    for assertion in active.get("assertions") or []:
        label = assertion.get("label", "")
        base = re.sub(r"\.v\d+$", "", label)
        if base in TRAINING_MINING_LABELS:
            entries = (assertion.get("data") or {}).get("entries") or {}
            found = from_cawg_entries(entries) if isinstance(entries, dict) else {}
            return found, f"c2pa:{base}" + ("" if trusted else " (signer not on a trust list)")
    return {}, ""


def _integrity_failed(store: dict[str, object]) -> bool:
    """A failure code other than an untrusted signer (which says who signed, not whether the file changed)."""
    statuses = store.get("validation_status") or []
    return any(isinstance(s, dict) and s.get("code") not in (None, "signingCredential.untrusted")
               and not str(s.get("code", "")).endswith((".insideValidity", ".validated", ".match", ".trusted"))
               for s in statuses) if isinstance(statuses, list) else False


def _from_xmp(data: bytes) -> tuple[dict[str, TdmChoice], str]:
    found = _XMP.search(data[: 64 << 20])
    if found is None or len(found.group(0)) > MAX_XMP_BYTES:
        return {}, ""
    try:
        root = ElementTree.fromstring(found.group(0))
    except Exception as exc:  # malformed XML, entities refused by defusedxml
        log.info("unreadable XMP packet: %s", exc)
        return {}, ""
    value = _property(root, "DataMining")
    if not value:
        return {}, ""
    return from_iptc(value, _property(root, "OtherConstraints")), "xmp:plus:DataMining"


def _property(root: Element, name: str) -> str | None:
    """A PLUS property written as an attribute of rdf:Description or as an element (plain, or an rdf:Alt,
    rdf:Bag or rdf:Seq whose first item holds it, or a resource)."""
    tag = f"{{{PLUS_NS}}}{name}"
    for desc in root.iter(f"{{{RDF_NS}}}Description"):
        if tag in desc.attrib:
            return str(desc.attrib[tag])
    for element in root.iter(tag):
        resource = element.attrib.get(f"{{{RDF_NS}}}resource")
        if resource:
            return str(resource)
        for li in element.iter(f"{{{RDF_NS}}}li"):
            if li.text and li.text.strip():
                return li.text.strip()
        if element.text and element.text.strip():
            return element.text.strip()
    return None
