"""The default image embedder: EfficientNet-Lite0 on ONNX Runtime, with PyTorch's preprocessing in NumPy.

The model file ships in `matcher/image/models` with its SHA-256 (checked when it is opened) and licence;
`scripts/export_onnx.py` makes it from the packaged PyTorch weights and checks that both give the same
embeddings. The model gives the last convolutional feature map for an input of any size; regions of an
image are pooled from one pass over the whole image (`embed.pool_regions`). Preprocessing is that of the
PyTorch reference: RGB, resized with bicubic resampling (Pillow) to the longer side 224 with its aspect
kept, scaled to [0, 1], normalised with the ImageNet mean and standard deviation.
"""

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from matcher.image.embed import Box, feature_map_size, pool_regions

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]


def packaged_model() -> Path:
    return Path(str(resources.files("matcher.image").joinpath("models", "efficientnet_lite0.onnx")))


def preprocess(image: Image.Image) -> npt.NDArray[np.float32]:
    """The network's input for one image: shape (1, 3, height, width)."""
    size = feature_map_size(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    if image.width >= 2 * size[0] and image.height >= 2 * size[1]:  # a cheap box reduction first
        image = image.reduce(min(image.width // size[0], image.height // size[1]))
    rgb = image.resize(size, Image.Resampling.BICUBIC)
    return ((np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0 - MEAN) / STD)[None]


WHOLE: Box = (0.0, 0.0, 1.0, 1.0)


class OnnxEmbedder:
    name = "efficientnet_lite0"
    dim = 1280

    def __init__(self, path: Path | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        path = path or packaged_model()
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        meta_path = path.with_suffix(".json")
        if meta_path.exists():
            expected = json.loads(meta_path.read_text())["sha256"]
            if digest != expected:
                raise RuntimeError(f"{path} has SHA-256 {digest}, not {expected}: reinstall the package or re-run "
                                   "python -m scripts.export_onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # no busy-waiting between runs: spinning threads would take the cores from the SIFT and faiss work
        # that follows (or runs beside) each embedding
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.version = f"onnxruntime/{digest[:12]}"

    def feature_map(self, image: Image.Image) -> npt.NDArray[np.float32]:
        out: npt.NDArray[np.float32] = self.session.run(None, {self.input: preprocess(image)})[0][0]
        return out.astype(np.float32, copy=False)

    def embed_regions(self, image: Image.Image, boxes: list[Box]) -> npt.NDArray[np.float32]:
        return pool_regions(self.feature_map(image), boxes)

    def embed(self, images: list[Image.Image]) -> npt.NDArray[np.float32]:
        return np.concatenate([self.embed_regions(im, [WHOLE]) for im in images]) if images \
            else np.zeros((0, self.dim), np.float32)
