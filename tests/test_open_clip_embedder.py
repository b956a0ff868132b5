"""open_clip loading plumbing, with a tiny model whose weights the test saves (no download, no CLIP weights)."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

open_clip = pytest.importorskip("open_clip", reason="the clip extra is not installed")
torch = pytest.importorskip("torch")

from matcher.image.embed import open_embedder  # noqa: E402
from matcher.image.embed_torch import OpenClipEmbedder  # noqa: E402
from registry.errors import InvalidInput  # noqa: E402

TINY = "provenance-tiny-test"


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("openclip")
    config = {"embed_dim": 32,
              "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
              "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    (folder / f"{TINY}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder / f"{TINY}.json")
    model = open_clip.create_model(TINY, pretrained=None)
    path = folder / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


def test_loads_a_local_weights_file_and_embeds(tiny_weights: Path) -> None:
    emb = open_embedder(f"open_clip:{TINY}:{tiny_weights}")
    assert isinstance(emb, OpenClipEmbedder)
    assert emb.dim == 32 and emb.name == f"open_clip:{TINY}" and "file-" in emb.version
    vecs = emb.embed([Image.new("RGB", (80, 60), "red"), Image.new("RGB", (40, 90), "blue")])
    assert vecs.shape == (2, 32)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    reference = open_clip.create_model(TINY, pretrained=str(tiny_weights))  # the weights really were loaded
    for (name, a), b in zip(emb.model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_refuses_random_weights_and_unreachable_tags(tiny_weights: Path) -> None:
    with pytest.raises(InvalidInput, match="random weights"):
        open_embedder(f"open_clip:{TINY}")
    with pytest.raises(InvalidInput, match="local weights file"):
        open_embedder(f"open_clip:{TINY}:no-such-tag")
    with pytest.raises(InvalidInput, match="no model"):
        open_embedder("open_clip:not-a-model:x")
    with pytest.raises(InvalidInput, match="unknown image embedder"):
        open_embedder("resnet9000")
