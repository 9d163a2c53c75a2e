"""The FCN person-mask provider: torchvision's FCN, the VOC person class, thresholded.

The paper segmented the person with FCN-8s (Long et al.: VGG-16, score maps fused from pool3,
pool4 and the last layer). torchvision's FCN is FCN-32s-style instead: one classifier head on the
last feature map, no skip fusion, on a ResNet-50/101 whose last two stages are dilated (output
stride 8), upsampled bilinearly to the input. It is the FCN that ships with pretrained weights;
the person mask it gives plays the same part.

Weights never come from the network at run time: a state_dict file the user names, or the
pretrained file already in torchvision's cache.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torchvision.models import segmentation
from torchvision.transforms.functional import resize

from faceoff.errors import FaceoffError
from faceoff.io import regular_file
from faceoff.pth import load_tensors
from faceoff.pth import state_dict as pth_state_dict
from faceoff_fcn import NUM_CLASSES, PERSON_CLASS, FcnParams

_BUILD = {"resnet50": segmentation.fcn_resnet50, "resnet101": segmentation.fcn_resnet101}
_WEIGHTS = {
    "resnet50": segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1,
    "resnet101": segmentation.FCN_ResNet101_Weights.COCO_WITH_VOC_LABELS_V1,
}
_AUX = "aux_classifier."  # the training-only auxiliary head: dropped, never run
_DEEP = "backbone.layer3.6."  # a block resnet101 has and resnet50 has not


def cache_path(backbone: str) -> Path:
    """Where torchvision keeps the pretrained weights of this backbone's FCN once downloaded."""
    name = os.path.basename(urlparse(_WEIGHTS[backbone].url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text[:300]}"


def _pretrained(backbone: str) -> Path:
    path = cache_path(backbone)
    if not path.is_file():
        url = _WEIGHTS[backbone].url
        raise FaceoffError(
            f"mask provider fcn: no pretrained fcn_{backbone} weights at {path}, and this "
            f"provider never downloads. On a machine with network, download {url} and put it at "
            f"{path} (TORCH_HOME moves the cache), or set the `weights` param to a state_dict "
            f"file of fcn_{backbone} with {NUM_CLASSES} VOC classes"
        )
    return path


def _read(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The state_dict in a .pth/.pt (weights_only) or .safetensors file, or a FaceoffError."""
    if path.suffix.lower() != ".safetensors":
        state: Any = load_tensors(path, what)
    else:
        regular_file(path, "a .pth, .pt or .safetensors file", what)
        try:
            from safetensors.torch import load_file

            state = load_file(str(path))
        except Exception as exc:
            raise FaceoffError(
                f"{what}: cannot be read as a state_dict ({_one_line(exc)}); save one with "
                "torch.save(model.state_dict(), path) or safetensors.torch.save_file"
            ) from None
    # The torchvision reference scripts save {"model": state_dict, "optimizer": ..., ...}.
    if isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
        state = state["model"]
    state = pth_state_dict(state, what)
    if all(k.startswith("module.") for k in state):  # saved from DataParallel
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith(_AUX)}


def _check(
    state: dict[str, torch.Tensor], model: torch.nn.Module, what: str, backbone: str
) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k}: file {list(v.shape)}, model {list(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if keys:
            parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:2])})")
    hint = ""
    if backbone == "resnet50" and any(k.startswith(_DEEP) for k in unexpected):
        hint = "; it looks like resnet101 weights: set backbone resnet101"
    elif backbone == "resnet101" and any(k.startswith(_DEEP) for k in missing):
        hint = "; it looks like resnet50 weights: set backbone resnet50"
    raise FaceoffError(
        f"{what}: not a state_dict of torchvision's fcn_{backbone} with {NUM_CLASSES} VOC "
        f"classes: {'; '.join(parts)}{hint}"
    )


def _device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise FaceoffError("mask provider fcn: device 'cuda' asked for, but CUDA is not available")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


class FcnMaskProvider:
    """Person masks from torchvision's FCN: ``provider(frame)`` -> float32 [H, W] or None.

    ``batch(frames)`` gives the same masks for many frames, running frames of one shape through
    the network together; ``probabilities(frames)`` gives the raw person probability maps.
    """

    def __init__(self, params: FcnParams) -> None:
        self.params = params
        self.device = _device(params.device)
        reference = _WEIGHTS[params.backbone]
        if params.weights is None:
            path, given = _pretrained(params.backbone), False
        else:
            path, given = Path(os.path.expanduser(params.weights)), True
        what = f"fcn weights {str(path)!r}" + (" (the `weights` param)" if given else "")
        state = _read(path, what)
        # Built without any weights (no download), without the training-only auxiliary head.
        model = _BUILD[params.backbone](
            weights=None, weights_backbone=None, num_classes=NUM_CLASSES, aux_loss=False
        )
        _check(state, model, what, params.backbone)
        model.load_state_dict(state)
        self.weights_path = path
        self.model = model.to(self.device).eval().requires_grad_(False)
        # torchvision's SemanticSegmentation preset: resize (520), scale to [0, 1], normalise.
        preset = reference.transforms()
        self.size = params.size
        self.mean = torch.tensor(preset.mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(preset.std, device=self.device).view(1, 3, 1, 1)
        self.interpolation = preset.interpolation
        self.classes: list[str] = list(reference.meta["categories"])

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The person mask of one uint8 RGB frame [H, W, 3]: float32 [H, W] in [0, 1], or None."""
        return self.batch([frame])[0]

    def batch(self, frames: Sequence[np.ndarray], batch_size: int = 8) -> list[np.ndarray | None]:
        """Masks of many frames, in order, as ``provider(frame)`` gives each (None: no person).

        Frames of the same shape go through the network ``batch_size`` at a time.
        """
        return [self._mask(p) for p in self.probabilities(frames, batch_size)]

    def probabilities(self, frames: Sequence[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Person probability (softmax over the classes) of each frame: float32 [H, W]."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1 (got {batch_size})")
        arrays = [_frame(f, i) for i, f in enumerate(frames)]
        out: list[np.ndarray | None] = [None] * len(arrays)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, a in enumerate(arrays):
            groups.setdefault(a.shape, []).append(i)
        for indices in groups.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start : start + batch_size]
                probs = self._infer(np.stack([arrays[i] for i in chunk]))
                for i, p in zip(chunk, probs):
                    out[i] = p
        return out  # type: ignore[return-value]

    @torch.inference_mode()
    def _infer(self, frames: np.ndarray) -> np.ndarray:
        """[N, H, W, 3] uint8 frames of one shape -> [N, H, W] float32 person probabilities."""
        height, width = frames.shape[1:3]
        x = torch.from_numpy(frames).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        if self.size is not None and min(height, width) != self.size:
            x = resize(x, [self.size], interpolation=self.interpolation, antialias=True)
        x = (x - self.mean) / self.std
        logits = self.model(x)["out"]
        prob = logits.softmax(dim=1)[:, PERSON_CLASS : PERSON_CLASS + 1]
        if prob.shape[-2:] != (height, width):
            down = prob.shape[-2] > height or prob.shape[-1] > width
            prob = F.interpolate(
                prob, size=(height, width), mode="bilinear", align_corners=False, antialias=down
            )
        return prob[:, 0].clamp_(0.0, 1.0).float().cpu().numpy()

    def _mask(self, prob: np.ndarray) -> np.ndarray | None:
        """Threshold, grow or shrink, feather; None when no pixel is left."""
        mask = (prob > self.params.threshold).astype(np.uint8)
        if not mask.any():
            return None
        radius = self.params.dilate
        if radius:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(radius) + 1,) * 2)
            mask = (cv2.dilate if radius > 0 else cv2.erode)(mask, kernel)
            if not mask.any():
                return None
        out = mask.astype(np.float32)
        if self.params.feather > 0:
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=self.params.feather)
            np.clip(out, 0.0, 1.0, out=out)
        return out


def _frame(frame: np.ndarray, index: int) -> np.ndarray:
    a = np.asarray(frame)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(
            f"fcn: frame {index} must be uint8 RGB [H, W, 3]; got {a.dtype} {list(a.shape)}"
        )
    return np.ascontiguousarray(a)
