"""What publishing costs: ISCC codes and embedded-rights reading per enrollment, a code-only search over
100,000 codes, and building and signing a declaration.

    python -m benchmarks.bench_publication [--data PATH] [--codes 100000]
"""

import argparse
import random
import time
from pathlib import Path

import iscc_core
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from benchmarks.devdata import DEFAULT, DevSet
from benchmarks.stats import pct
from matcher.iscc import CodeIndex, iscc_codes
from registry.content import load_content
from registry.formats.rights import declared_rights
from registry.ids import utcnow
from registry.models import Work, WorkKind, WorkStatus
from registry.terms import LicenseTerms, OptOuts
from service import declarations


def _ms(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return 1000 * (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--codes", type=int, default=100_000)
    args = ap.parse_args()
    for kind in ("image", "text"):
        files = DevSet(args.data, f"manifest_{kind}s.csv").files()[:200]
        contents = [load_content(p.read_bytes(), max_pixels=10**9, max_text_chars=10**9) for p, _ in files]
        codes = [_ms(iscc_codes, c) for c in contents]
        rights = [_ms(declared_rights, c.data, c.media_type) for c in contents]
        print(f"{kind}s ({len(contents)}): ISCC codes p50 {pct(codes, 50):.1f} ms, p95 {pct(codes, 95):.1f} ms; "
              f"reading C2PA/XMP p50 {pct(rights, 50):.2f} ms, p95 {pct(rights, 95):.2f} ms")
    rng = random.Random(1)
    index = CodeIndex()
    for n in range(args.codes):
        index.add(f"w{n}", "ISCC:" + iscc_core.encode_component(
            mtype=iscc_core.MT.CONTENT, stype=iscc_core.ST_CC.IMAGE, version=iscc_core.VS.V0, bit_length=64,
            digest=rng.getrandbits(64).to_bytes(8, "big")))
    searches = [_ms(index.search, WorkKind.IMAGE, rng.getrandbits(64), 4) for _ in range(200)]
    print(f"code-only search over {args.codes:,} codes: p50 {pct(searches, 50):.2f} ms, p95 {pct(searches, 95):.2f} ms")
    key = Ed25519PrivateKey.generate()
    work = Work(id="wrk_x", owner_id="acc_x", kind=WorkKind.IMAGE, title="t", sha256="0" * 64, media_type="image/jpeg",
                size=1, created_at=utcnow(), status=WorkStatus.ACTIVE, license=LicenseTerms(), opt_outs=OptOuts(),
                iscc="ISCC:KEA5Z4FRE4KI66SUQFPZBWROY2BW344W7E5GUISJAM")
    signing = [_ms(lambda: declarations.sign(declarations.declaration(work, "https://r.example", "", "k", utcnow()),
                                             key)) for _ in range(500)]
    print(f"declaration built and signed: p50 {pct(signing, 50):.2f} ms, p95 {pct(signing, 95):.2f} ms")


if __name__ == "__main__":
    main()
