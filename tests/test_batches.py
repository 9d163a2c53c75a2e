"""The input pipeline: vectorised crop and flip, batches as a function of the step, the disk
cache of frames, and the DataLoader over steps."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from faceoff.data import Domain
from faceoff.plugins import get_registry
from faceoff.spec import load_spec
from faceoff.train.batches import (
    DiskFrames,
    DomainTensors,
    StepBatches,
    UnpairedBatches,
    batch_loader,
    crop_flip,
    crop_windows,
    disk_frames,
    frames_key,
    random_windows,
    resolve_workers,
)
from faceoff.train.data import frames_on_disk, load_data
from faceoff.train.distributed import ShardedBatches
from tiny import QUICKSTART, TINY


def reference_crop_flip(
    t: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor, flips: torch.Tensor, crop: int
) -> torch.Tensor:
    """The obvious loop: one slice per image, then a flip where asked."""
    out = []
    for i in range(len(t)):
        y, x = int(tops[i]), int(lefts[i])
        window = t[i, :, y : y + crop, x : x + crop]
        out.append(window.flip(-1) if flips[i] else window)
    return torch.stack(out)


@pytest.mark.parametrize("flip", [True, False])
def test_the_gather_crop_equals_the_reference_loop_for_image_and_mask(flip: bool) -> None:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (9, 3, 23, 23), generator=g, dtype=torch.uint8)
    masks = torch.rand(9, 1, 23, 23, generator=g).to(torch.float16)
    tops, lefts, flips = random_windows(9, 23, 23, 16, flip, g)
    assert bool(flips.any()) == flip and not flips.all()
    index = torch.tensor([4, 0, 8, 8, 1])  # any frames, repeats too
    for t in (images, masks):
        got = crop_windows(t, index, tops[:5], lefts[:5], flips[:5], 16)
        assert got.dtype == t.dtype and got.shape == (5, t.shape[1], 16, 16)
        want = reference_crop_flip(t[index], tops[:5], lefts[:5], flips[:5], 16)
        assert torch.equal(got, want)


def test_crop_flip_draws_the_windows_it_applies() -> None:
    images = torch.randint(0, 256, (5, 3, 20, 20), dtype=torch.uint8)
    masks = images[:, :1].to(torch.float16)
    out, out_masks = crop_flip(images, masks, 12, True, torch.Generator().manual_seed(7))
    windows = random_windows(5, 20, 20, 12, True, torch.Generator().manual_seed(7))
    assert torch.equal(out, reference_crop_flip(images, *windows, 12))
    assert out_masks is not None and torch.equal(out[:, :1].to(torch.float16), out_masks)


def _domains(n_a: int = 6, n_b: int = 4, size: int = 10, masks: bool = True) -> list[Domain]:
    rng = np.random.default_rng(0)
    return [
        Domain(rng.integers(0, 256, (n, size, size, 3), np.uint8), [f"{i}.png" for i in range(n)])
        for n in (n_a, n_b)
    ]


def _tensors(domains: list[Domain], masks: bool = True) -> list[DomainTensors]:
    out = []
    for d in domains:
        m = (d.frames[..., 0] > 127).astype(np.float16) if masks else None  # follows the image
        out.append(DomainTensors.from_domain(d, m))
    return out


def _batches(tensors: list[DomainTensors], **kw) -> UnpairedBatches:
    args = {"batch_size": 2, "crop_size": 8, "flip": True, "seed": 3} | kw
    return UnpairedBatches(*tensors, **args)


def _equal(x: dict[str, torch.Tensor], y: dict[str, torch.Tensor]) -> bool:
    return x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)


def test_a_batch_depends_on_the_step_alone_not_on_what_came_before() -> None:
    tensors = _tensors(_domains())
    in_order = _batches(tensors)
    first = [in_order.batch(e, s) for e in range(2) for s in range(3)]
    shuffled = _batches(tensors)
    for e, s in [(1, 2), (0, 1), (1, 0), (0, 0), (0, 2), (1, 1)]:
        assert _equal(shuffled.batch(e, s), first[e * 3 + s])
    assert not _equal(first[0], first[1])
    assert not _equal(_batches(tensors, rank=1).batch(0, 0), first[0]), "ranks draw differently"
    b = first[0]
    assert b["A"].shape == (2, 3, 8, 8) and b["mask_A"].shape == (2, 1, 8, 8)
    assert torch.equal((b["A"][:, :1] > 127).half(), b["mask_A"])
    assert torch.equal((b["B"][:, :1] > 127).half(), b["mask_B"])


def test_an_epoch_shows_every_frame_of_a_once_and_b_at_random() -> None:
    tensors = _tensors(_domains(n_a=6, n_b=4), masks=False)
    batches = _batches(tensors, batch_size=2, crop_size=10, flip=False)
    frames_a = tensors[0].images
    seen = torch.cat([batches.batch(0, s)["A"] for s in range(3)])
    found = sorted(int((frames_a == img).flatten(1).all(1).nonzero()) for img in seen)
    assert found == list(range(6))


def test_ranks_split_the_global_batch_of_one_process() -> None:
    tensors = _tensors(_domains(n_a=8, n_b=4), masks=False)
    one = _batches(tensors, batch_size=4, crop_size=10, flip=False)
    ranks = [
        ShardedBatches(*tensors, batch_size=2, crop_size=10, flip=False, seed=3, rank=r, world=2)
        for r in range(2)
    ]
    for step in range(2):
        whole = one.batch(0, step)["A"]
        assert torch.equal(ranks[0].batch(0, step)["A"], whole[0::2])
        assert torch.equal(ranks[1].batch(0, step)["A"], whole[1::2])


def test_the_disk_cache_gives_the_same_batches_and_is_reused(tmp_path: Path) -> None:
    domains = _domains()
    source = {"plugin": "test", "params": {}}
    keys = [frames_key(d, source, 10) for d in domains]
    assert keys[0] != keys[1]
    on_disk = [disk_frames(d, tmp_path, k) for d, k in zip(domains, keys)]
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == sorted(f"{k}.npy" for k in keys)
    stamps = [p.stat().st_mtime_ns for p in files]
    again = [disk_frames(d, tmp_path, k) for d, k in zip(domains, keys)]
    assert [p.stat().st_mtime_ns for p in files] == stamps, "the second run reuses the files"
    assert np.array_equal(again[0].array, on_disk[0].array)

    memory = _batches(_tensors(domains))
    masks = [t.masks for t in _tensors(domains)]
    disk = _batches([DomainTensors(f, m) for f, m in zip(on_disk, masks)])
    for e, s in [(0, 0), (0, 2), (3, 1)]:
        assert _equal(memory.batch(e, s), disk.batch(e, s))

    copy = pickle.loads(pickle.dumps(on_disk[0]))
    assert len(pickle.dumps(on_disk[0])) < 1000, "pickled as its path, not its frames"
    assert isinstance(copy, DiskFrames) and np.array_equal(copy.array, on_disk[0].array)

    changed = Domain(domains[0].frames.copy(), domains[0].names)
    changed.frames[0, 0, 0, 0] ^= 1
    assert frames_key(changed, source, 10) != keys[0], "other pixels, another file"


def test_a_broken_cache_file_is_written_again(tmp_path: Path) -> None:
    domain = _domains()[0]
    (tmp_path / "k.npy").write_bytes(b"\x93NUMPY broken")
    frames = disk_frames(domain, tmp_path, "k")
    assert np.array_equal(frames.array, domain.frames.transpose(0, 3, 1, 2))


def test_data_cache_disk_loads_the_same_frames_into_the_cache_folder(tmp_path: Path) -> None:
    memory = load_data(load_spec(QUICKSTART, get_registry(), [*TINY, "data.cache=memory"]))
    disk_spec = load_spec(QUICKSTART, get_registry(), [*TINY, "data.cache=disk"])
    disk = load_data(disk_spec)
    for m, d in zip(memory.train, disk.train):
        assert isinstance(d.images, DiskFrames) and isinstance(m.images, torch.Tensor)
        assert d.images.path.parent.name == "frames" and d.images.path.is_file()
        assert torch.equal(torch.from_numpy(np.array(d.images.array)), m.images)
    auto = load_spec(QUICKSTART, get_registry(), [*TINY, "data.cache_auto_gib=0.00001"])
    a, b = auto.build("data.source").load("train", 36)
    assert frames_on_disk(auto, a, b)  # 2 x 8 x 36 x 36 x 3 bytes > 10 KiB
    assert not frames_on_disk(load_spec(QUICKSTART, get_registry(), TINY), a, b)


def test_the_loader_starts_at_the_step_and_workers_change_nothing() -> None:
    batches = _batches(_tensors(_domains()))
    expected = [batches.batch(*divmod(step, 3)) for step in range(4, 9)]
    for workers in (0, 2):
        loader = batch_loader(
            StepBatches(batches, 4, 9, 3), workers=workers, prefetch_factor=2, pin_memory=False
        )
        state = torch.get_rng_state()
        got = list(loader)
        assert torch.equal(state, torch.get_rng_state()), "the global RNG is left alone"
        assert len(got) == 5 and all(_equal(x, y) for x, y in zip(got, expected))


def test_auto_workers() -> None:
    assert resolve_workers("auto", torch.device("cpu")) == 0
    assert 1 <= resolve_workers("auto", torch.device("cuda")) <= 4
    assert resolve_workers(3, torch.device("cpu")) == 3
