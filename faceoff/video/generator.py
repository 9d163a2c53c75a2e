"""The generator that ``apply`` and ``export`` run, and the sizes it maps to themselves.

A face-off generator must give back frames of the size it was given. A ResNet fed 30 px makes
32 px and a U-Net fails inside, so a size is tried on one frame before any work, and a size
the network cannot map to itself is refused naming the nearest that work: the network plugin's
own rule says which where it has one (``check_input``), else the network is tried on the sizes
around it.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open

from faceoff.console import warn
from faceoff.devices import out_of_memory
from faceoff.errors import FaceoffError, call_plugin
from faceoff.io import regular_file
from faceoff.pth import one_line
from faceoff.runs import FORMATS, Checkpoint, RunFolder
from faceoff.weights import FORMAT as NETWORK_FORMAT
from faceoff.weights import load_network

MIN_SIZE, MAX_SIZE = 8, 4096  # the --size range of apply and export, and of ONNX metadata
DEFAULT_SIZE = 256  # a network file carries no training size
REACH = 16  # without a plugin rule, sizes this far on each side are tried for a working one

Rule = Callable[[int], "str | None"]


@dataclass(frozen=True)
class Generator:
    """The network to apply, where it came from, and how it takes sizes."""

    net: torch.nn.Module
    source: Path  # the checkpoint or network file actually read
    name: str  # the run's network name, or "generator" for a network file
    size: int  # the default square input size (the run's data.crop_size, or 256)
    rule: Rule | None = None  # why a size would not work, by the network plugin's own rule

    def made_from(self, size: int) -> tuple[int, ...] | str:
        """The shape the network makes from one ``size`` px square, or why it cannot take it."""
        own = getattr(self.net, "made_from", None)  # an ONNX file answers for itself
        if own is not None:
            return own(size)
        first = next(itertools.chain(self.net.parameters(), self.net.buffers()), None)
        device = first.device if first is not None else torch.device("cpu")
        try:
            with torch.no_grad():
                out = self.net(torch.zeros(1, 3, size, size, device=device))
        except (RuntimeError, ValueError) as exc:
            if out_of_memory(exc):
                raise FaceoffError(
                    f"out of memory on {device} trying {size} px; give a smaller --size"
                ) from None
            return one_line(str(exc).strip().split("\n")[0] or type(exc).__name__)
        return tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__

    def maps(self, size: int) -> bool:
        """Whether a ``size`` px square comes back as one of the same size."""
        return self.made_from(size) == (1, 3, size, size)

    def check_size(self, size: int) -> None:
        """A FaceoffError unless the network maps ``size`` px to itself, naming the nearest
        sizes that work."""
        if not MIN_SIZE <= size <= MAX_SIZE:
            raise FaceoffError(f"--size {size}: expected {MIN_SIZE} to {MAX_SIZE}")
        made = self.made_from(size)
        if made == (1, 3, size, size):
            return
        what = f"cannot take {size} px ({made})" if isinstance(made, str) else ""
        if not what:
            if made[:2] != (1, 3) or len(made) != 4:
                raise FaceoffError(
                    f"{self.source}: {self.name} makes {list(made)} from [1, 3, {size}, {size}]; "
                    "a face-off generator gives back 3-channel images of the size it takes"
                )
            what = f"makes {made[2]}x{made[3]} px from {size} px"
        rule = call_plugin(f"{self.name}'s size rule", self.rule, size) if self.rule else None
        raise FaceoffError(f"{self.source}: {self.name} {what}; {rule or self._nearest(size)}")

    def _nearest(self, size: int) -> str:
        near = nearest_sizes(self.maps, size)
        if not near:
            return f"no size within {REACH} px of {size} comes back the same; try another --size"
        if len(near) == 1:
            return f"the nearest size it gives back unchanged is {near[0]}; give it with --size"
        return (
            f"the nearest sizes it gives back unchanged are {near[0]} and {near[1]}; give one "
            "with --size"
        )


def nearest_sizes(works: Callable[[int], bool], size: int, reach: int = REACH) -> list[int]:
    """The nearest size below and the nearest above ``size`` (within ``reach``, in
    [MIN_SIZE, MAX_SIZE]) for which ``works`` holds, those that exist."""
    below = range(size - 1, max(MIN_SIZE, size - reach) - 1, -1)
    above = range(size + 1, min(MAX_SIZE, size + reach) + 1)
    found = (next((s for s in sizes if works(s)), None) for sizes in (below, above))
    return [s for s in found if s is not None]


def _plugin_rule(kind: str, plugin: str, params: Any) -> Rule | None:
    """The size rule (``check_input``) of the plugin that built a network, where it has one."""
    from faceoff.plugins import get_registry

    try:
        component = get_registry().get(kind, plugin)
        validated = component.validate(params)
    except Exception:  # the network was built from these already; no rule, then
        return None
    if component.check_input is None:
        return None

    def rule(size: int) -> str | None:
        problem = component.input_problem(validated, size)
        return problem and f"{plugin} {one_line(problem)}; give such a size with --size"

    return rule


def _peek_metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), framework="pt") as handle:
            return handle.metadata() or {}
    except Exception:  # load_network says what is wrong with it
        return {}


def load_generator(source: str | Path, direction: str = "a2b", device: str = "cpu") -> Generator:
    """The generator of a run folder (latest checkpoint), a run checkpoint, a network file, or
    an ONNX file from ``faceoff export`` (run by onnxruntime on ``device``): the run's
    objective's translation ``direction``, one network or a chain of them run as one."""
    source = Path(source)
    if source.suffix.lower() == ".onnx" and source.is_file():
        return _onnx_generator(source, direction, device)
    if source.is_dir():
        checkpoint = RunFolder(source).latest(
            hint="train it first (faceoff run) or give a checkpoint or network file"
        )
    elif not source.exists():
        raise FaceoffError(f"{source}: no such run folder, checkpoint or network file")
    else:
        checkpoint = Checkpoint(regular_file(source, "a run folder, checkpoint or network file"))
    metadata = _peek_metadata(checkpoint.path)
    if metadata.get("format") == NETWORK_FORMAT:
        if metadata.get("kind") != "generator":
            raise FaceoffError(
                f"{source}: holds a {metadata.get('kind')}, not a generator; give a "
                "generator network file, a run checkpoint or a run folder"
            )
        if direction != "a2b":
            warn(
                f"{source}: a network file holds one generator; --direction {direction} is "
                "ignored (import the other direction's weights to a file of its own)"
            )
        net = load_network(source)
        rule = _plugin_rule("generator", metadata["plugin"], json.loads(metadata["params"]))
        return Generator(net, source, "generator", DEFAULT_SIZE, rule)
    if metadata.get("format") not in FORMATS:
        load_network(checkpoint.path)  # says what is wrong with the file
    translation = checkpoint.translation(direction)
    net = checkpoint.load_translation(direction)
    records = [checkpoint.networks[name] for name in translation.chain]
    rules = [_plugin_rule(r["kind"], r["plugin"], r.get("params", {})) for r in records]
    rule = _first_rule([r for r in rules if r is not None])
    return Generator(net, checkpoint.path, translation.label, checkpoint.crop_size, rule)


def _first_rule(rules: list[Rule]) -> Rule | None:
    """One size rule for a chain of networks: the first link's objection (each link's own
    rule is about the images the chain takes and gives back)."""
    if len(rules) < 2:
        return rules[0] if rules else None
    return lambda size: next((p for rule in rules if (p := rule(size))), None)


def _onnx_generator(source: Path, direction: str, device: str) -> Generator:
    net = OnnxGenerator(source, device)
    made = net.direction or "a2b"
    if direction != made:
        warn(f"{source}: exported for {made}; --direction {direction} is ignored")

    def rule(size: int) -> str | None:
        fixed = net.fixed_size
        return None if fixed in (None, size) else f"it takes {fixed} px only; give --size {fixed}"

    return Generator(net, source, f"{net.network} (ONNX)", net.size or DEFAULT_SIZE, rule)


# ---- ONNX files: checked on opening, whoever wrote them -------------------------------------

META_PREFIX = "faceoff."
_NAME = re.compile(r"[A-Za-z0-9_.+-]{1,64}")  # a network, or a chain: encoder+decoder_B


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
        raise FaceoffError(
            f"{path}: not an ONNX model onnxruntime can run ({one_line(str(exc))})"
        ) from None


def _fixed(dim: object) -> int | None:
    return dim if isinstance(dim, int) and dim > 0 else None


def _side(shape: list[Any] | None) -> int | None:
    """The fixed height (or width) of an image [N, 3, H, W], if either is fixed."""
    return _fixed(shape[2]) or _fixed(shape[3]) if shape and len(shape) == 4 else None


def _image_problem(arg: Any, role: str) -> str | None:
    """Why an input or output of the graph is not a float image [N, 3, H, W], or None. An
    output of unknown rank is checked when the file is run."""
    shape = list(arg.shape or [])
    if role == "output" and not shape and arg.type == "tensor(float)":
        return None
    dims = "[" + ", ".join(str(d) if _fixed(d) else "?" for d in shape) + "]"
    if arg.type != "tensor(float)":
        return f"its {role} {arg.name!r} is {arg.type}, not float32"
    if len(shape) != 4:
        return f"its {role} {arg.name!r} is {dims}, not an image [N, 3, H, W]"
    batch, channels, height, width = (_fixed(d) for d in shape)
    if batch is not None:
        return f"its {role} {arg.name!r} is {dims}: a fixed batch of {batch}, not any batch N"
    if channels not in (None, 3):
        return f"its {role} {arg.name!r} is {dims}: {channels} channels, not 3 (RGB)"
    if height and width and height != width:
        return f"its {role} {arg.name!r} is {dims}: not square"
    return None


def _graph_problem(inputs: list[Any], outputs: list[Any]) -> str | None:
    for args, role in ((inputs, "input"), (outputs, "output")):
        if len(args) != 1:
            names = ", ".join(repr(a.name) for a in args) or "none"
            return f"it has {len(args)} {role}s ({names}), not one"
        problem = _image_problem(args[0], role)
        if problem:
            return problem
    side_in, side_out = (_side(a.shape) for a in (*inputs, *outputs))
    if side_in and not MIN_SIZE <= side_in <= MAX_SIZE:
        return f"its input is fixed at {side_in} px, not {MIN_SIZE} to {MAX_SIZE}"
    if side_in and side_out and side_in != side_out:
        return f"it makes {side_out} px images from {side_in} px ones"
    return None


def check_graph(path: Path, inputs: list[Any], outputs: list[Any]) -> None:
    """One float image input [N, 3, H, W] and one output of the same shape, or a FaceoffError
    naming the file and what is wrong."""
    problem = _graph_problem(inputs, outputs)
    if problem:
        raise FaceoffError(
            f"{path}: not a face-off generator: {problem}; faceoff runs ONNX files that take "
            "float images [N, 3, H, W] and give back the same shape (write one with faceoff export)"
        )


def _metadata_size(path: Path, meta: dict[str, str]) -> int | None:
    value = meta.get("size")
    if value is None:
        return None
    if value.isascii() and value.isdigit() and MIN_SIZE <= int(value) <= MAX_SIZE:
        return int(value)
    raise FaceoffError(
        f"{path}: metadata {META_PREFIX}size {value[:20]!r} is not a size in px from {MIN_SIZE} "
        f"to {MAX_SIZE}; export the file again with faceoff export"
    )


class OnnxGenerator(torch.nn.Module):
    """An ONNX generator run by onnxruntime, called like the PyTorch network (float images in
    [-1, 1], [N, 3, H, W] -> the same shape). Its graph and metadata are checked on opening,
    and onnxruntime's errors are one line naming the file."""

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        super().__init__()
        self.path = Path(path)
        self.session = session(self.path, device)
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        check_graph(self.path, inputs, outputs)
        self.input = inputs[0].name
        self.fixed_size = _side(inputs[0].shape)
        self.meta = {
            k.removeprefix(META_PREFIX): v
            for k, v in self.session.get_modelmeta().custom_metadata_map.items()
            if k.startswith(META_PREFIX)
        }
        self.size = _metadata_size(self.path, self.meta) or self.fixed_size
        direction = self.meta.get("direction")
        self.direction = direction if direction in ("a2b", "b2a") else None
        network = self.meta.get("network", "")
        self.network = network if _NAME.fullmatch(network) else "onnx"

    def _run(self, array: np.ndarray) -> np.ndarray | str:
        """onnxruntime's output for ``array``, or its error on one line; out of memory is a
        FaceoffError."""
        try:
            return self.session.run(None, {self.input: array})[0]
        except Exception as exc:  # onnxruntime raises its own types
            text = one_line(str(exc))
        if "allocate" in text.lower():
            raise FaceoffError(
                f"{self.path}: out of memory in onnxruntime on {list(array.shape)}; use a "
                "smaller --batch or --size"
            )
        return text

    def made_from(self, size: int) -> tuple[int, ...] | str:
        """The shape made from one ``size`` px square, or why it cannot take it."""
        if self.fixed_size not in (None, size):
            return "its input's size is fixed"
        out = self._run(np.zeros((1, 3, size, size), np.float32))
        return out if isinstance(out, str) else tuple(out.shape)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().float().cpu().numpy()
        out = self._run(array)
        if isinstance(out, str):
            raise FaceoffError(f"{self.path}: onnxruntime failed on {list(array.shape)} ({out})")
        if out.shape != array.shape:
            raise FaceoffError(
                f"{self.path}: made {list(out.shape)} from {list(array.shape)}; a face-off "
                "generator gives back the shape it takes"
            )
        return torch.from_numpy(out).to(images.device)
