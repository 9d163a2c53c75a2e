"""A trained generator as an ONNX file, checked against PyTorch with onnxruntime: `faceoff export`.

The file takes float images in [-1, 1], [N, 3, H, W], and gives the translation; the batch is
dynamic, and so are height and width where the network takes other sizes (a ResNet does, at
multiples of 4; a U-Net only at its own size). Its metadata says what it was made from
(``faceoff.*`` keys), so ``faceoff apply`` knows the size to feed it. Instance norm is a known
source of ONNX drift (reference CycleGAN #1534): the largest difference from PyTorch's output is
measured on export and printed.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff.errors import FaceoffError
from faceoff.io import atomic_path, check_new_file, refuse_inputs

META_PREFIX = "faceoff."


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_onnx`` wrote and measured."""

    out: Path
    network: str
    source: Path
    size: int
    dynamic_size: bool
    max_difference: float
    opset: int

    def line(self) -> str:
        sizes = "any batch and size" if self.dynamic_size else f"any batch, {self.size} px"
        return (
            f"{self.network} ({self.source}) at {self.size} px, opset {self.opset}, {sizes}; "
            f"onnxruntime vs PyTorch: max |difference| {self.max_difference:.2e} on [-1, 1]"
        )


def _check_out(out: Path) -> None:
    if out.suffix.lower() != ".onnx":
        raise FaceoffError(f"{out}: an ONNX file ends in .onnx")
    if out.is_dir():
        raise FaceoffError(f"{out}: is a folder; give the .onnx file to write")
    if not out.parent.is_dir():
        raise FaceoffError(f"{out}: its folder {out.parent} does not exist")
    check_new_file(out)


def _takes(net: torch.nn.Module, size: int) -> bool:
    try:
        with torch.no_grad():
            net(torch.zeros(1, 3, size, size))
    except RuntimeError:
        return False
    return True


def session(path: str | Path, device: str = "cpu") -> Any:
    """An onnxruntime session, on CUDA when asked and onnxruntime has it, else the CPU."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise FaceoffError(
            f"ONNX files run with onnxruntime ({exc}); pip install 'faceoff[insightface]'"
        ) from None
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own types for a file that is no model
        text = " ".join(str(exc).split())[:200]
        raise FaceoffError(f"{path}: not an ONNX model onnxruntime can run ({text})") from None


def export_onnx(
    source: str | Path,
    out: str | Path,
    *,
    direction: str = "a2b",
    size: int | None = None,
    opset: int = 17,
) -> ExportSummary:
    """Export the generator of a run (folder or checkpoint) or network file to ``out``, check
    it with onnxruntime on a batch of two, and write it atomically (nothing on failure)."""
    import onnx

    from faceoff.video.apply import load_generator

    out = Path(out)
    refuse_inputs(out, {"RUN": source})
    _check_out(out)
    gen = load_generator(source, direction)
    net = gen.net.eval().cpu()
    size = size or gen.size
    if not _takes(net, size):
        raise FaceoffError(f"{gen.source}: the generator cannot take {size} px; try --size")
    dynamic = _takes(net, size + 4) and _takes(net, max(8, size - 4))
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic else {0: "batch"}
    example = torch.rand(1, 3, size, size) * 2 - 1
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(tmp),
            input_names=["image"],
            output_names=["translated"],
            dynamic_axes={"image": axes, "translated": axes},
            opset_version=opset,
            dynamo=False,
        )
        model = onnx.load(str(tmp))
        meta = {"size": str(size), "direction": direction, "network": gen.name}
        meta |= {"source": str(gen.source), "dynamic_size": json.dumps(dynamic)}
        onnx.helper.set_model_props(model, {META_PREFIX + k: v for k, v in meta.items()})
        onnx.save(model, str(tmp))
        worst = _difference(net, tmp, size)
    return ExportSummary(out, gen.name, Path(gen.source), size, dynamic, worst, opset)


def _difference(net: torch.nn.Module, path: Path, size: int) -> float:
    """The largest difference between onnxruntime's and PyTorch's outputs on two images."""
    images = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        expected = net(images).numpy()
    got = session(path).run(None, {"image": images.numpy()})[0]
    return float(np.abs(got - expected).max())


class OnnxGenerator(torch.nn.Module):
    """An exported generator run by onnxruntime, called like the PyTorch network (float images
    in [-1, 1], [N, 3, H, W] -> the same shape), for ``faceoff apply``."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        super().__init__()
        self.path = Path(path)
        self.session = session(self.path, device)
        self.meta = {
            k.removeprefix(META_PREFIX): v
            for k, v in self.session.get_modelmeta().custom_metadata_map.items()
            if k.startswith(META_PREFIX)
        }
        self.input = self.session.get_inputs()[0].name

    @property
    def size(self) -> int | None:
        value = self.meta.get("size")
        return int(value) if value and value.isdigit() else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().float().cpu().numpy()
        (out,) = self.session.run(None, {self.input: array})[:1]
        return torch.from_numpy(out).to(images.device)
