"""A trained generator as an ONNX file, checked against PyTorch with onnxruntime: `faceoff export`.

The file takes float images in [-1, 1], [N, 3, H, W], and gives the translation; the batch is
dynamic, and so are height and width where the network takes other sizes (a ResNet does, at
multiples of 4; a U-Net only at its own size). Its metadata says what it was made from
(``faceoff.*`` keys), so ``faceoff apply`` knows the size to feed it. A translation by a chain of
networks (an encoder, then a decoder) is one graph, named after its links
(``faceoff.network``: ``encoder+decoder_B``). Instance norm is a known
source of ONNX drift (reference CycleGAN #1534): the largest difference from PyTorch's output is
measured on export and printed.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceoff.errors import FaceoffError
from faceoff.io import atomic_path, check_new_file, refuse_inputs
from faceoff.video.generator import META_PREFIX, MIN_SIZE, OnnxGenerator, load_generator, session

__all__ = ["ExportSummary", "OnnxGenerator", "export_onnx", "session"]


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


def export_onnx(
    source: str | Path,
    out: str | Path,
    *,
    direction: str = "a2b",
    size: int | None = None,
    opset: int = 17,
) -> ExportSummary:
    """Export the generator of a run (folder or checkpoint) or network file to ``out``, check
    it with onnxruntime on a batch of two, and write it atomically (nothing on failure). A size
    the generator does not give back unchanged is refused, naming the nearest that work."""
    import onnx

    out = Path(out)
    refuse_inputs(out, {"RUN": source})
    _check_out(out)
    if Path(source).suffix.lower() == ".onnx":
        raise FaceoffError(
            f"{source}: is an ONNX file already; export takes a run folder, a run checkpoint "
            "or a network file"
        )
    gen = load_generator(source, direction)
    net = gen.net.eval().cpu()
    size = size or gen.size
    gen.check_size(size)
    dynamic = gen.maps(size + 4) and (size - 4 < MIN_SIZE or gen.maps(size - 4))
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
