"""The PyTorch path (the `clip` extra): the packaged weights are real, and the default ONNX embedder gives
the same embeddings as PyTorch on real images."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the clip extra is not installed")

from matcher.image.embed import open_embedder  # noqa: E402
from matcher.image.embed_onnx import OnnxEmbedder  # noqa: E402
from matcher.image.embed_torch import EfficientNetLite0Embedder, efficientnet_lite0_classifier  # noqa: E402
from matcher.image.signals import QUERY_REGIONS  # noqa: E402
from tests.conftest import FIXTURES  # noqa: E402

IMAGES = sorted((FIXTURES / "images").glob("*.jpg")) + sorted((FIXTURES / "unenrolled").glob("*.jpg"))


def test_packaged_efficientnet_weights_are_real_imagenet_weights() -> None:
    """A random network would not call the fixture tabby cat a cat (ImageNet classes 281-285)."""
    from torchvision import transforms

    model = efficientnet_lite0_classifier()
    prep = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
                               transforms.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    with torch.inference_mode():
        logits = model(prep(Image.open(FIXTURES / "images" / "chelsea.jpg").convert("RGB"))[None])
    top5 = set(logits.topk(5).indices[0].tolist())
    assert top5 & {281, 282, 283, 284, 285}


def test_the_onnx_embedder_gives_the_torch_embeddings(embedder: OnnxEmbedder) -> None:
    reference = EfficientNetLite0Embedder()
    images = [Image.open(p).convert("RGB") for p in IMAGES]
    images += [im.crop((0, 0, im.width // 2, im.height // 3)) for im in images[:3]]  # odd shapes too
    cosines = np.sum(reference.embed(images) * embedder.embed(images), axis=1)
    assert cosines.min() >= 0.9999, cosines
    for im in images[:4]:  # and the regions pooled from one pass over each image
        regions = np.sum(reference.embed_regions(im, QUERY_REGIONS) * embedder.embed_regions(im, QUERY_REGIONS), 1)
        assert regions.min() >= 0.9999, regions
    # the same name, another version: an index built by one is rebuilt, never mixed, under the other
    assert reference.name == embedder.name and reference.version != embedder.version


def test_torch_embedders_are_chosen_by_name(tmp_path: Path) -> None:
    assert isinstance(open_embedder("efficientnet_lite0_torch"), EfficientNetLite0Embedder)
    assert isinstance(open_embedder("efficientnet_lite0"), OnnxEmbedder)
