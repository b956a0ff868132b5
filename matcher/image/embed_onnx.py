"""The default image embedder: EfficientNet-Lite0 on ONNX Runtime, with PyTorch's preprocessing in NumPy.

The model file ships in `matcher/image/models` with its SHA-256 (checked when it is opened) and licence;
`scripts/export_onnx.py` makes it from the packaged PyTorch weights and checks that both give the same
embeddings. Preprocessing is that of the PyTorch reference: RGB, resized to 224x224 with bicubic
resampling (Pillow), scaled to [0, 1], normalised with the ImageNet mean and standard deviation.
"""

import hashlib
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None, None]
SIZE = 224


def packaged_model() -> Path:
    return Path(str(resources.files("matcher.image").joinpath("models", "efficientnet_lite0.onnx")))


def preprocess(images: list[Image.Image]) -> npt.NDArray[np.float32]:
    batch = np.empty((len(images), 3, SIZE, SIZE), dtype=np.float32)
    for i, im in enumerate(images):
        rgb = im.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BICUBIC)
        batch[i] = (np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / 255.0 - MEAN) / STD
    return batch


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
        self.session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.version = f"onnxruntime/{digest[:12]}"

    def embed(self, images: list[Image.Image]) -> npt.NDArray[np.float32]:
        out = self.session.run(None, {self.input: preprocess(images)})[0].astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out
