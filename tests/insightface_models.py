"""Tiny stand-ins for insightface's buffalo_l detector and 106-point landmark model, as real ONNX.

They have the inputs and outputs insightface's model zoo routes by, so ``model_zoo.get_model``,
``SCRFD.detect`` and ``Landmark.get`` run unchanged on them:

- ``TinyDetector`` (as det_10g.onnx): input [1, 3, H, W] (dynamic H, W), nine outputs: scores
  [N, 1], box distances [N, 4] and keypoint distances [N, 10] for strides 8, 16 and 32, N being
  (H / s) * (W / s) * 2 anchors. It "detects" bright regions: pixels whose red channel is above
  127.5 make one face (emitted at every stride-32 anchor, all decoding to the bounding box of those
  pixels), pixels whose blue channel is above 127.5 another (at stride 16). A face's score is its
  brightest value / 255, so a dark frame has no face.
- ``TinyLandmarks`` (as 2d106det.onnx): input [1, 3, 192, 192], output [1, 212]: a fixed,
  plausible 106-point face (``template()``) in insightface's normalised crop space, whatever the
  input. ``Landmark.get`` crops 1.5 x the box around its centre, so a template point u (box units,
  -1..1 spans a square box) comes out at ``centre + u * max(w, h) / 2`` in the frame.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

STRIDES = (8, 16, 32)
ANCHORS = 2
# template units -> the landmark net's output units: the crop is 1.5 x the box, spanning -1..1
TO_NET = 2.0 / 3.0


def _ellipse(n: int, centre: tuple[float, float], radii: tuple[float, float]) -> np.ndarray:
    t = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    return np.stack([centre[0] + radii[0] * np.cos(t), centre[1] + radii[1] * np.sin(t)], 1)


def template() -> np.ndarray:
    """A frontal face's 106 points in box units (x right, y down; the box spans -1..1)."""
    points = np.zeros((106, 2))
    reach = np.pi / 2 + 0.25  # the contour runs from the temples (just above the eyes) to the chin

    def jaw(theta: np.ndarray) -> np.ndarray:
        return np.stack([0.9 * np.sin(theta), 0.95 * np.cos(theta)], 1)

    points[0] = jaw(np.array([0.0]))[0]  # chin
    points[1:17] = jaw(-reach * (17 - np.arange(1, 17)) / 16)  # one side, temple to chin
    points[17:33] = jaw(reach * (33 - np.arange(17, 33)) / 16)  # the other side
    points[33:43] = _ellipse(10, (-0.38, -0.22), (0.17, 0.07))  # eye
    brow = np.linspace(-0.72, -0.12, 9)
    points[43:52] = np.stack([brow, -0.45 - 0.08 * np.sin(np.linspace(0, np.pi, 9))], 1)
    points[52:64] = _ellipse(12, (0.0, 0.5), (0.32, 0.12))  # outer lip line
    points[64:72] = _ellipse(8, (0.0, 0.5), (0.22, 0.04))  # inner lip line
    points[72:77] = np.stack([np.zeros(5), np.linspace(-0.2, 0.15, 5)], 1)  # bridge
    points[77:82] = np.stack([np.linspace(-0.15, -0.05, 5), np.linspace(0.1, 0.25, 5)], 1)
    points[82:87] = np.stack([np.linspace(0.15, 0.05, 5), np.linspace(0.1, 0.25, 5)], 1)
    points[87:97] = _ellipse(10, (0.38, -0.22), (0.17, 0.07))  # the other eye
    points[97:106] = points[43:52] * [-1, 1]  # the other brow
    return points.astype(np.float32)


def expected_landmarks(box: tuple[float, float, float, float]) -> np.ndarray:
    """Where Landmark.get puts the template for a detected box (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    return (centre + template() * max(x2 - x1, y2 - y1) / 2).astype(np.float32)


class TinyDetector(nn.Module):
    """SCRFD's outputs for bright red (stride 32) and bright blue (stride 16) regions."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # x: (pixel - 127.5) / 128 in RGB order (insightface swaps the BGR frame)
        height, width = x.shape[2], x.shape[3]
        faces = {32: self._face(x[0, 0]), 16: self._face(x[0, 2])}
        scores, boxes, kps = [], [], []
        for stride in STRIDES:
            cx = torch.arange(width // stride, dtype=torch.float32) * stride
            cy = torch.arange(height // stride, dtype=torch.float32) * stride
            gx = cx[None, :].expand(cy.shape[0], cx.shape[0]).reshape(-1)
            gy = cy[:, None].expand(cy.shape[0], cx.shape[0]).reshape(-1)
            gx = torch.stack([gx] * ANCHORS, 1).reshape(-1)  # anchors of a cell are adjacent
            gy = torch.stack([gy] * ANCHORS, 1).reshape(-1)
            if stride in faces:
                score, (x1, y1, x2, y2) = faces[stride]
                distances = [(gx - x1) / stride, (gy - y1) / stride]
                distances += [(x2 - gx) / stride, (y2 - gy) / stride]
                scores.append(score * torch.ones_like(gx)[:, None])
                boxes.append(torch.stack(distances, 1))
            else:
                scores.append(torch.zeros_like(gx)[:, None])
                boxes.append(torch.zeros_like(gx)[:, None].expand(-1, 4))
            kps.append(torch.zeros_like(gx)[:, None].expand(-1, 10))
        return (*scores, *boxes, *kps)

    @staticmethod
    def _face(channel: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Score (brightest value / 255) and bounding box of the pixels above 127.5."""
        bright = channel > 0
        xs = torch.arange(channel.shape[1], dtype=torch.float32)
        ys = torch.arange(channel.shape[0], dtype=torch.float32)
        cols, rows = bright.any(0), bright.any(1)
        far = torch.tensor(1e6)
        x1 = torch.where(cols, xs, far).min()
        x2 = torch.where(cols, xs + 1, -far).max()
        y1 = torch.where(rows, ys, far).min()
        y2 = torch.where(rows, ys + 1, -far).max()
        score = (channel.max() * 128 + 127.5) / 255
        return score, (x1, y1, x2, y2)


class TinyLandmarks(nn.Module):
    """A fixed 106-point face in 2d106det's output space, [1, 212]."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("points", torch.from_numpy(template() * TO_NET).reshape(1, 212))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.points + 0 * x.mean()  # keeps the image an input of the graph


def _export(module: nn.Module, example: torch.Tensor, path: Path, outputs: int, **kw: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(
            module.eval(),
            (example,),
            str(path),
            dynamo=False,  # the default (dynamo) exporter needs onnxscript
            input_names=["input.1"],
            output_names=[f"out{i}" for i in range(outputs)],
            opset_version=17,
            **kw,
        )


def write_detector(path: Path) -> Path:
    names = [f"out{i}" for i in range(9)]
    dynamic = {"input.1": {2: "height", 3: "width"}} | {n: {0: f"n_{n}"} for n in names}
    _export(TinyDetector(), torch.zeros(1, 3, 64, 64), path, 9, dynamic_axes=dynamic)
    return path


def write_landmarks(path: Path) -> Path:
    _export(TinyLandmarks(), torch.zeros(1, 3, 192, 192), path, 1)
    return path


def write_pack(
    root: Path, pack: str = "buffalo_l", *, detector: bool = True, landmarks: bool = True
):
    """``root/models/pack`` with det_10g.onnx and/or 2d106det.onnx; returns the pack folder."""
    folder = root / "models" / pack
    folder.mkdir(parents=True, exist_ok=True)
    if detector:
        write_detector(folder / "det_10g.onnx")
    if landmarks:
        write_landmarks(folder / "2d106det.onnx")
    return folder


def face_frame(
    size: int = 286,
    box: tuple[int, int, int, int] = (83, 63, 203, 213),
    colour: tuple[int, int, int] = (230, 70, 60),
) -> np.ndarray:
    """A uint8 RGB frame, dark grey, with one filled rectangle (a "face") at ``box``."""
    frame = np.full((size, size, 3), 30, np.uint8)
    x1, y1, x2, y2 = box
    frame[y1:y2, x1:x2] = colour
    return frame
