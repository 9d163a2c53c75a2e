"""Frames per second of `faceoff apply`'s generator call, through PyTorch and through
onnxruntime (an ONNX file from `faceoff export`), and the largest difference between the two.

    python benchmarks/inference.py                  # the quickstart's generator at 64 px,
                                                    # the paper's at 256 px
    python benchmarks/inference.py --json out.json

Each generator has fresh N(0, 0.02) weights (speed and drift do not depend on training), is
exported as `faceoff export` exports, and runs ``--frames`` random frames in batches of
``--batch`` through ``faceoff.translate.translate`` (apply's own function) with each backend,
after a warm-up batch. Instance norm is the known source of ONNX drift (reference CycleGAN
#1534): it is exported as ONNX InstanceNormalization.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from faceoff.export import OnnxGenerator
from faceoff.plugins import get_registry
from faceoff.translate import translate

CONFIGS = {64: {"ngf": 16, "n_blocks": 6}, 256: {"ngf": 64, "n_blocks": 9}}


def _export(net: torch.nn.Module, size: int, path: Path) -> None:
    example = torch.rand(1, 3, size, size) * 2 - 1
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (example,),
            str(path),
            input_names=["image"],
            output_names=["translated"],
            dynamic_axes={"image": axes, "translated": axes},
            opset_version=17,
            dynamo=False,
        )


def _fps(net: torch.nn.Module, frames: np.ndarray, batch: int) -> float:
    cpu = torch.device("cpu")
    translate(net, frames[:batch], cpu, batch=batch)  # warm-up
    started = time.perf_counter()
    translate(net, frames, cpu, batch=batch)
    return len(frames) / (time.perf_counter() - started)


def measure(size: int, frames: int, batch: int) -> dict:
    torch.manual_seed(0)
    net = get_registry().get("generator", "resnet").make(CONFIGS[size]).eval()
    images = np.random.default_rng(0).integers(0, 256, (frames, size, size, 3), np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.onnx"
        _export(net, size, path)
        onnx = OnnxGenerator(path)
        check = torch.rand(2, 3, size, size) * 2 - 1
        with torch.no_grad():
            drift = float((onnx(check) - net(check)).abs().max())
        row = {
            "size": size,
            "generator": {"plugin": "resnet", **CONFIGS[size]},
            "frames": frames,
            "batch": batch,
            "torch_fps": round(_fps(net, images, batch), 2),
            "onnx_fps": round(_fps(onnx, images, batch), 2),
            "max_difference": drift,
        }
    row["onnx_over_torch"] = round(row["onnx_fps"] / row["torch_fps"], 2)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], choices=sorted(CONFIGS))
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows = [measure(size, args.frames, args.batch) for size in args.sizes]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor()}")
    print(f"{'size':>5} {'torch fps':>10} {'onnx fps':>10} {'onnx/torch':>10} {'max diff':>10}")
    for r in rows:
        print(f"{r['size']:>5} {r['torch_fps']:>10.1f} {r['onnx_fps']:>10.1f} "
              f"{r['onnx_over_torch']:>10.2f} {r['max_difference']:>10.2e}")  # fmt: skip
    if args.json:
        args.json.write_text(
            json.dumps({"torch": torch.__version__, "rows": rows}, indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
