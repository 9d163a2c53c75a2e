"""The `fcn` mask provider: torchvision's real FCN with random weights, loaded through `weights`."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from safetensors.torch import save_file
from torchvision.models.segmentation import fcn_resnet50

from faceoff.errors import FaceoffError
from faceoff.plugins import get_registry
from faceoff_fcn import PERSON_CLASS

SIZE = 286
CACHE_NAME = "fcn_resnet50_coco-1167a1af.pth"  # basename of torchvision's FCN_ResNet50 URL


def make(**params: Any) -> Any:
    return get_registry().get("mask_provider", "fcn").make(params)


def frame(height: int = SIZE, width: int = SIZE, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    """A random-init fcn_resnet50 state_dict, with the auxiliary head as torchvision's file has."""
    torch.manual_seed(0)
    model = fcn_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def pth(state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fcn") / "random.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def small(pth: Path) -> Any:
    """A provider at 64 px inference size (fast); tests that change its head use ``head``."""
    return make(weights=str(pth), size=64)


@pytest.fixture
def head(small: Any) -> Iterator[torch.nn.Conv2d]:
    """The small provider's final 1x1 classifier conv, restored after the test."""
    conv = small.model.classifier[4]
    saved = {k: v.clone() for k, v in conv.state_dict().items()}
    yield conv
    conv.load_state_dict(saved)


def set_logits(conv: torch.nn.Conv2d, logits: dict[int, float]) -> None:
    """Make the head output constant logits: zero weights, the given biases (others 0)."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        for index, value in logits.items():
            conv.bias[index] = value


def test_default_pipeline_on_a_286_px_frame(pth: Path) -> None:
    provider = make(weights=str(pth))
    seen: list[tuple[int, ...]] = []
    hook = provider.model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape))
    image = frame()
    prob = provider.probabilities([image])[0]
    mask = provider(image)
    hook.remove()
    assert seen == [(1, 3, 520, 520)] * 2  # torchvision's reference resize
    assert prob.shape == (SIZE, SIZE) and prob.dtype == np.float32
    assert prob.min() >= 0.0 and prob.max() <= 1.0
    person = prob > 0.5
    if person.any():
        assert mask is not None and mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
        np.testing.assert_array_equal(mask, person.astype(np.float32))
    else:
        assert mask is None


def test_weights_loaded_from_safetensors_person_head_gives_full_mask(
    state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    edited = dict(state)
    edited["classifier.4.weight"] = torch.zeros_like(state["classifier.4.weight"])
    edited["classifier.4.bias"] = torch.zeros(21).index_fill_(0, torch.tensor(PERSON_CLASS), 10.0)
    path = tmp_path / "person.safetensors"
    save_file({k: v.contiguous() for k, v in edited.items()}, str(path))
    provider = make(weights=str(path), size=64)
    assert "aux_classifier" not in dict(provider.model.named_children())
    mask = provider(frame())
    assert mask is not None and mask.shape == (SIZE, SIZE) and mask.dtype == np.float32
    assert (mask == 1.0).all()


def test_person_and_background_heads(small: Any, head: torch.nn.Conv2d) -> None:
    set_logits(head, {PERSON_CLASS: 10.0})
    assert (small(frame()) == 1.0).all()
    set_logits(head, {0: 10.0})
    assert small(frame()) is None
    set_logits(head, {12: 10.0})  # dog: not a person either
    assert small(frame()) is None


def test_threshold_on_the_softmax_person_probability(pth: Path) -> None:
    # Person logit ln 30, the other 20 classes 0: p(person) = 30 / (30 + 20) = 0.6.
    below, above = (
        make(weights=str(pth), size=64, threshold=0.55),
        make(weights=str(pth), size=64, threshold=0.65),
    )
    for provider in (below, above):
        set_logits(provider.model.classifier[4], {PERSON_CLASS: math.log(30.0)})
    np.testing.assert_allclose(below.probabilities([frame()])[0], 0.6, atol=1e-5)
    assert (below(frame()) == 1.0).all()
    assert above(frame()) is None


class Bright(torch.nn.Module):
    """Stand-in network: person where the (normalised) red channel is bright, else background."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        person = (x[:, :1] > 0).float() * 20.0 - 10.0
        return {"out": torch.cat([-person, *[torch.full_like(person, -10.0)] * 14, person], 1)}


def box_frame() -> np.ndarray:
    image = np.zeros((200, SIZE, 3), np.uint8)  # not square: rows and columns must not swap
    image[50:150, 100:250] = 255
    return image


def test_mask_geometry_dilate_erode_and_feather(pth: Path) -> None:
    inside, outside = np.zeros((200, SIZE), bool), np.ones((200, SIZE), bool)
    inside[60:140, 110:240] = True
    outside[40:160, 90:260] = False
    masks = {}
    for name, params in {
        "plain": {},
        "grown": {"dilate": 6},
        "shrunk": {"dilate": -6},
        "soft": {"feather": 4.0},
    }.items():
        provider = make(weights=str(pth), size=64, **params)
        provider.model = Bright()
        masks[name] = provider(box_frame())
    plain = masks["plain"]
    assert plain.shape == (200, SIZE) and set(np.unique(plain)) == {0.0, 1.0}
    assert plain[inside].all() and not plain[outside].any()
    assert abs(plain.sum() - 100 * 150) < 0.05 * 100 * 150
    assert masks["grown"].sum() > plain.sum() + 2 * 6 * (100 + 150) * 0.8
    assert masks["shrunk"].sum() < plain.sum() - 2 * 6 * (100 + 150) * 0.8
    assert (masks["grown"] >= plain).all() and (masks["shrunk"] <= plain).all()
    soft = masks["soft"]
    assert soft.dtype == np.float32 and soft.min() >= 0.0 and soft.max() <= 1.0
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 2 * (100 + 150) * 4
    assert soft[inside[:, :]].min() > 0.5 and soft[100, 175] > 0.99


def test_erosion_that_removes_everything_gives_none(pth: Path) -> None:
    provider = make(weights=str(pth), size=64, dilate=-20)
    provider.model = Bright()
    image = np.zeros((200, SIZE, 3), np.uint8)
    image[90:110, 90:110] = 255  # 20 px: gone after shrinking by 20
    assert provider(image) is None


def test_batch_matches_single_frames_in_order(small: Any) -> None:
    frames = [frame(seed=1), frame(200, SIZE, seed=2), frame(seed=3)]
    batched = small.probabilities(frames, batch_size=2)
    assert [p.shape for p in batched] == [(SIZE, SIZE), (200, SIZE), (SIZE, SIZE)]
    for image, prob in zip(frames, batched):
        np.testing.assert_allclose(prob, small.probabilities([image])[0], atol=1e-4)
    masks = small.batch(frames)
    assert len(masks) == 3
    with pytest.raises(ValueError, match="uint8 RGB"):
        small(frame().astype(np.float32))


def test_missing_weights_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(FaceoffError, match=r"nope\.pth.*no such file"):
        make(weights=str(missing))


def test_unreadable_and_wrong_weights_files_are_named(
    state: dict[str, torch.Tensor], tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(FaceoffError, match=r"garbage\.pth.*not a PyTorch state_dict") as error:
        make(weights=str(garbage))
    assert "weights_only" not in str(error.value)  # never PyTorch's advice to run the file
    objects = tmp_path / "objects.pth"
    torch.save(
        {"conv.weight": torch.zeros(3), "when": __import__("datetime").date.today()}, objects
    )
    with pytest.raises(FaceoffError, match=r"objects\.pth.*refused: it holds more") as error:
        make(weights=str(objects))
    assert "weights_only" not in str(error.value) and "\n" not in str(error.value)
    bad_st = tmp_path / "garbage.safetensors"
    bad_st.write_bytes(b"\x00" * 16)
    with pytest.raises(FaceoffError, match=r"garbage\.safetensors.*cannot be read"):
        make(weights=str(bad_st))
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3)}, other)
    with pytest.raises(FaceoffError, match=r"other\.pth.*fcn_resnet50.*missing"):
        make(weights=str(other))
    three = tmp_path / "three-classes.pth"
    edited = dict(state)
    edited["classifier.4.weight"] = torch.zeros(3, 512, 1, 1)
    edited["classifier.4.bias"] = torch.zeros(3)
    torch.save({"model": edited, "epoch": 3}, three)  # torchvision reference-script layout
    with pytest.raises(FaceoffError, match=r"three-classes\.pth.*wrong shape.*classifier\.4"):
        make(weights=str(three))


def test_resnet50_weights_with_resnet101_backbone_hint(pth: Path) -> None:
    with pytest.raises(FaceoffError, match=r"random\.pth.*set backbone resnet50"):
        make(weights=str(pth), backbone="resnet101")


def test_no_cache_no_file_names_cache_path_and_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # in case anything called set_dir
    expected = tmp_path / "hub" / "checkpoints" / CACHE_NAME
    with pytest.raises(FaceoffError) as info:
        make()
    message = str(info.value)
    assert str(expected) in message
    assert f"https://download.pytorch.org/models/{CACHE_NAME}" in message
    assert "`weights`" in message and "never downloads" in message


def test_pretrained_weights_taken_from_the_cache(
    pth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    cached = tmp_path / "hub" / "checkpoints" / CACHE_NAME
    cached.parent.mkdir(parents=True)
    os.symlink(pth, cached)
    provider = make(size=64)
    assert provider.weights_path == cached
    assert provider.classes[PERSON_CLASS] == "person"


def test_params_are_checked() -> None:
    component = get_registry().get("mask_provider", "fcn")
    assert component.summary.startswith("FCN person segmentation")
    for bad in ({"threshold": 1.0}, {"size": 8}, {"backbone": "vgg16"}, {"colour": 1}):
        with pytest.raises(ValidationError):
            component.params.model_validate(bad)
    assert component.params.model_validate({"size": None}).size is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_refused(pth: Path) -> None:
    with pytest.raises(FaceoffError, match="CUDA is not available"):
        make(weights=str(pth), device="cuda")


def test_plugin_import_does_not_import_torch() -> None:
    code = (
        "import sys, faceoff_fcn; "
        "print('torch' in sys.modules, 'torchvision' in sys.modules, 'cv2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "False"]
