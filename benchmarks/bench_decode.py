"""What one image check costs at the largest accepted images: time and peak memory growth, per format.

Each case runs in a fresh process: the embedder is loaded and one small image checked first, the file is
read, the peak resident memory is reset to the memory in use (/proc/self/clear_refs), then the large image is
decoded and searched through an image matcher (exact pixels, PDQ in eight orientations, region embeddings,
SIFT), and the peak's growth over the memory in use before is reported.
The goal (lean-matching issue): under 300 MB for every accepted image; refused ones are refused quickly.

    python -m benchmarks.bench_decode [--megapixels 64]
"""

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.stats import table

CHILD = r"""
import json, sys, time
from pathlib import Path
from PIL import Image
from matcher.image.embed_onnx import OnnxEmbedder
from matcher.image.matcher import ImageMatcher
from registry.content import load_content
from registry.errors import ProvenanceError
import io
matcher = ImageMatcher(None, OnnxEmbedder())
small = io.BytesIO(); Image.new("RGB", (640, 480), "teal").save(small, "PNG")
matcher.verify_all(load_content(small.getvalue(), max_pixels=64_000_000, max_text_chars=1))
data = Path(sys.argv[1]).read_bytes()
def status(field):
    line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith(field + ":"))
    return int(line.split()[1])
Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the memory in use now
before = status("VmRSS")
t = time.perf_counter()
try:
    matcher.verify_all(load_content(data, max_pixels=64_000_000, max_text_chars=1))
    outcome = "accepted"
except ProvenanceError as exc:
    outcome = "refused: " + exc.message[:60]
elapsed = time.perf_counter() - t
after = status("VmHWM")
print(json.dumps({"outcome": outcome, "seconds": elapsed, "growth_mb": (after - before) / 1024}))
"""


def _image(width: int, height: int, mode: str) -> Image.Image:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = ((x / width + y / height) * 127).astype(np.uint8)
    noise = rng.integers(0, 24, (height, width), dtype=np.uint8)
    gray = base + noise
    if mode == "I;16":
        return Image.fromarray((gray.astype(np.uint16) * 256).astype("<u2")).convert("I;16")
    rgb = Image.fromarray(np.stack([gray, gray[::-1], 255 - gray], axis=2), "RGB")
    return rgb.convert(mode)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megapixels", type=float, default=64.0)
    args = ap.parse_args()
    side = int((args.megapixels * 1e6) ** 0.5)
    cases: list[tuple[str, str, dict[str, object]]] = [
             ("JPEG", "RGB", {"quality": 90}), ("JPEG progressive", "RGB", {"quality": 90, "progressive": True}),
             ("PNG", "RGB", {"compress_level": 1}), ("PNG 16-bit gray", "I;16", {"compress_level": 1}),
             ("PNG RGBA", "RGBA", {"compress_level": 1}), ("WEBP", "RGB", {"quality": 80}),
             ("TIFF deflate", "RGB", {"compression": "tiff_adobe_deflate"})]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, mode, options in cases:
            fmt = name.split()[0]
            w, h = (min(side, 16383), min(side, 16383)) if fmt == "WEBP" else (side, side)
            buf = io.BytesIO()
            _image(w, h, mode).save(buf, fmt, **options)
            path = Path(tmp) / "case"
            path.write_bytes(buf.getvalue())
            done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True,
                                  check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append([name, f"{w}x{h}", f"{len(buf.getvalue()) / 2**20:.1f}", result["outcome"],
                         f"{result['seconds']:.2f}", f"{result['growth_mb']:.0f}"])
            print(rows[-1], flush=True)
    print(table(["format", "pixels", "file MB", "outcome", "check s", "peak memory growth MB"], rows))


if __name__ == "__main__":
    main()
