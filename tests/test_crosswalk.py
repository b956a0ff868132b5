"""The crosswalk between the opt-out vocabularies, value by value, and reading what files declare (C2PA
manifests signed in the test, XMP packets written in the test)."""

import datetime
import io
import itertools
from typing import Any

import c2pa
import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

from registry import crosswalk
from registry.formats.rights import declared_rights
from registry.terms import TDM_KEYS, OptOuts, TdmChoice

NO, YES = TdmChoice(use="notAllowed"), TdmChoice(use="allowed")
LIMITED = TdmChoice(use="constrained", constraint_info="https://example.org/licence")


def _opt_outs(uses: dict[str, TdmChoice]) -> OptOuts:
    return msgspec.structs.replace(OptOuts(), **{k: uses.get(k, YES) for k in TDM_KEYS})


# (uses not allowed) -> (IPTC term, tdm-reservation, Content-Usage, X-Robots-Tag for an image)
TABLE = [
    ({}, "DMI-ALLOWED", 0, "bots=y, train-ai=y, train-genai=y", ""),
    ({k: NO for k in TDM_KEYS}, "DMI-PROHIBITED", 1, "bots=n, train-ai=n, train-genai=n", "noai, noimageai"),
    ({"ai_training": NO, "ai_generative_training": NO}, "DMI-PROHIBITED-AIMLTRAINING", 1,
     "bots=y, train-ai=n, train-genai=n", "noai, noimageai"),
    ({"ai_generative_training": NO}, "DMI-PROHIBITED-GENAIMLTRAINING", 1, "bots=y, train-ai=y, train-genai=n",
     "noai, noimageai"),
    ({"ai_inference": NO}, "DMI-PROHIBITED-SEECONSTRAINT", 0, "bots=y, train-ai=y, train-genai=y", ""),
    ({"data_mining": NO}, "DMI-PROHIBITED-SEECONSTRAINT", 1, "bots=n, train-ai=y, train-genai=y", ""),
    ({"ai_training": LIMITED}, "DMI-PROHIBITED-SEECONSTRAINT", 1, "bots=y, train-ai=n, train-genai=y",
     "noai, noimageai"),
]


@pytest.mark.parametrize(("uses", "iptc", "tdm", "usage", "robots"), TABLE)
def test_each_choice_maps_to_each_vocabulary(uses: dict[str, TdmChoice], iptc: str, tdm: int, usage: str,
                                             robots: str) -> None:
    opt_outs = _opt_outs(uses)
    term, other = crosswalk.iptc_data_mining(opt_outs)
    assert term == iptc
    assert (other is not None) == (term == "DMI-PROHIBITED-SEECONSTRAINT")
    assert crosswalk.tdm_reservation(opt_outs) == tdm
    assert crosswalk.content_usage(opt_outs) == usage
    assert ", ".join(crosswalk.robots_directives(opt_outs, image=True)) == robots
    cawg: Any = opt_outs.to_cawg()["entries"]
    assert set(cawg) == {"cawg.ai_training", "cawg.ai_generative_training", "cawg.ai_inference", "cawg.data_mining"}
    assert all(cawg[f"cawg.{k}"]["use"] == getattr(opt_outs, k).use for k in TDM_KEYS)


def test_no_vocabulary_is_more_permissive_than_the_opt_outs() -> None:
    """Every combination of uses: what IPTC's term says back is never `allowed` where a use is not."""
    for combo in itertools.product((YES, NO, LIMITED), repeat=4):
        opt_outs = msgspec.structs.replace(OptOuts(), **dict(zip(TDM_KEYS, combo, strict=True)))
        term, other = crosswalk.iptc_data_mining(opt_outs)
        read = crosswalk.from_iptc(term, other)
        for key in TDM_KEYS:
            if getattr(opt_outs, key).use != "allowed":
                assert read.get(key, YES).use != "allowed", (combo, term, key)
        reserved = any(getattr(opt_outs, k).use != "allowed" for k in crosswalk.TDM_MINING_KEYS)
        assert crosswalk.tdm_reservation(opt_outs) == int(reserved)
        for label, key in (("bots", "data_mining"), ("train-ai", "ai_training"),
                           ("train-genai", "ai_generative_training")):
            assert (f"{label}=y" in crosswalk.content_usage(opt_outs)) == (getattr(opt_outs, key).use == "allowed")


def test_iptc_values_read_back() -> None:
    assert crosswalk.from_iptc("http://ns.useplus.org/ldf/vocab/DMI-ALLOWED") == dict.fromkeys(TDM_KEYS, YES)
    assert crosswalk.from_iptc("DMI-PROHIBITED-AIMLTRAINING") == {"ai_training": NO, "ai_generative_training": NO}
    assert crosswalk.from_iptc("DMI-PROHIBITED-GENAIMLTRAINING") == {"ai_generative_training": NO}
    assert crosswalk.from_iptc("DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING") == dict.fromkeys(TDM_KEYS, NO)
    limited = crosswalk.from_iptc("DMI-PROHIBITED-SEECONSTRAINT", "ask first")
    assert limited["ai_training"] == TdmChoice(use="constrained", constraint_info="ask first")
    assert crosswalk.from_iptc("DMI-UNSPECIFIED") == {} and crosswalk.from_iptc("nonsense") == {}


def test_cawg_and_legacy_c2pa_labels_read() -> None:
    found = crosswalk.from_cawg_entries({"cawg.ai_training": {"use": "notAllowed"},
                                         "c2pa.data_mining": {"use": "constrained"},
                                         "c2pa.ai_inference": {"use": "allowed"},
                                         "cawg.unknown": {"use": "notAllowed"}, "cawg.ai_generative_training": 3})
    assert found["ai_training"] == NO and found["ai_inference"] == YES
    assert found["data_mining"].use == "constrained" and found["data_mining"].constraint_info
    assert set(found) == {"ai_training", "data_mining", "ai_inference"}


# -- files that declare their choices ---------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Provenance tests")])


def _signer() -> c2pa.Signer:
    """An ES256 signer with a two-certificate chain made for the test (C2PA's certificate profile)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    usage = dict(content_commitment=False, key_encipherment=False, data_encipherment=False, key_agreement=False,
                 encipher_only=False, decipher_only=False)
    ca = (x509.CertificateBuilder().subject_name(_name("Test CA")).issuer_name(_name("Test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True, **usage),
                         critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(_name("Test signer")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    chain = leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))


def jpeg(color: tuple[int, int, int] = (200, 30, 30), size: int = 96) -> bytes:
    img = Image.new("RGB", (size, size), color)
    for x in range(0, size, 8):  # some detail, so that the picture is not flat
        img.paste((x * 2 % 255, 90, 160), (x, 0, x + 4, size))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def with_c2pa(data: bytes, label: str, entries: dict[str, object]) -> bytes:
    manifest = {"claim_generator_info": [{"name": "provenance-tests", "version": "1"}], "title": "test",
                "assertions": [
                    {"label": "c2pa.actions", "data": {"actions": [{
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}},
                    {"label": label, "data": {"entries": entries}}]}
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(_signer(), "image/jpeg", io.BytesIO(data), out)
    return out.getvalue()


def xmp_packet(value: str, other: str | None = None, as_element: bool = False) -> bytes:
    plus = "http://ns.useplus.org/ldf/xmp/1.0/"
    vocab = "http://ns.useplus.org/ldf/vocab/"
    extra = f'<plus:OtherConstraints><rdf:Alt><rdf:li xml:lang="x-default">{other}</rdf:li></rdf:Alt>' \
            "</plus:OtherConstraints>" if other else ""
    if as_element:
        desc = (f'<rdf:Description rdf:about=""><plus:DataMining rdf:resource="{vocab}{value}"/>{extra}'
                "</rdf:Description>")
    else:
        desc = f'<rdf:Description rdf:about="" plus:DataMining="{vocab}{value}">{extra}</rdf:Description>'
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:plus="{plus}">{desc}'
            '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def with_xmp(data: bytes, packet: bytes) -> bytes:
    """The JPEG with an APP1 XMP segment after SOI."""
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + packet
    return data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


def test_a_c2pa_training_mining_assertion_is_read() -> None:
    signed = with_c2pa(jpeg(), "cawg.training-mining", {
        "cawg.ai_training": {"use": "notAllowed"},
        "cawg.data_mining": {"use": "constrained", "constraint_info": "https://example.org/terms"}})
    found = declared_rights(signed, "image/jpeg")
    assert found.uses == {"ai_training": NO, "data_mining": TdmChoice(use="constrained",
                                                                       constraint_info="https://example.org/terms")}
    assert found.sources["ai_training"].startswith("c2pa:cawg.training-mining")
    legacy = declared_rights(with_c2pa(jpeg(), "c2pa.training-mining", {"c2pa.ai_generative_training":
                                                                        {"use": "notAllowed"}}), "image/jpeg")
    assert legacy.uses == {"ai_generative_training": NO}
    assert legacy.sources["ai_generative_training"].startswith("c2pa:c2pa.training-mining")


def test_a_c2pa_manifest_of_a_changed_file_is_ignored() -> None:
    signed = bytearray(with_c2pa(jpeg(), "cawg.training-mining", {"cawg.ai_training": {"use": "allowed"}}))
    signed[-200] ^= 0xFF  # the pixels change after signing: the manifest's hash no longer holds
    assert declared_rights(bytes(signed), "image/jpeg").uses == {}


@pytest.mark.parametrize("as_element", [False, True])
def test_an_xmp_data_mining_value_is_read(as_element: bool) -> None:
    data = with_xmp(jpeg(), xmp_packet("DMI-PROHIBITED-AIMLTRAINING", as_element=as_element))
    Image.open(io.BytesIO(data)).load()  # still a valid JPEG
    found = declared_rights(data, "image/jpeg")
    assert found.uses == {"ai_training": NO, "ai_generative_training": NO}
    assert found.sources == {"ai_training": "xmp:plus:DataMining", "ai_generative_training": "xmp:plus:DataMining"}
    constrained = declared_rights(with_xmp(jpeg(), xmp_packet("DMI-PROHIBITED-SEECONSTRAINT", "ask us")),
                                  "image/jpeg")
    assert constrained.uses["data_mining"] == TdmChoice(use="constrained", constraint_info="ask us")


def test_c2pa_wins_over_xmp_and_broken_metadata_declares_nothing() -> None:
    both = with_c2pa(with_xmp(jpeg(), xmp_packet("DMI-ALLOWED")), "cawg.training-mining",
                     {"cawg.ai_training": {"use": "notAllowed"}})
    found = declared_rights(both, "image/jpeg")
    assert found.uses["ai_training"] == NO and found.sources["ai_training"].startswith("c2pa:")
    assert found.uses["data_mining"] == YES and found.sources["data_mining"] == "xmp:plus:DataMining"
    entity = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    assert declared_rights(with_xmp(jpeg(), entity), "image/jpeg").uses == {}
    assert declared_rights(with_xmp(jpeg(), b"<x:xmpmeta >not xml"), "image/jpeg").uses == {}
    assert declared_rights(jpeg(), "image/jpeg").uses == {}
