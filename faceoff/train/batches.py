"""Unaligned batches from uint8 frames, with the same crop and flip for image and mask.

A batch is a pure function of (seed, epoch, step in the epoch, rank): its randomness comes from a
generator seeded by a hash of those numbers, never from a generator carried from step to step.
So batches can be made in DataLoader workers, in any order, and a resumed run draws exactly what
an uninterrupted one would have drawn without saving any data-RNG state.

Frames live either in memory (a uint8 tensor) or in a memory-mapped ``.npy`` file written once
under ``cache_root()/frames`` (``data.cache``), for sets that would not fit comfortably in RAM.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff.frames import to_tensor
from faceoff.io import atomic_path

GIB = 2**30


class DiskFrames:
    """uint8 [N, 3, H, W] frames in a read-only memory-mapped ``.npy`` file.

    Pickles as its path, so a worker started by spawn reopens the file instead of receiving a
    copy of every frame; under fork the mapping (and the page cache behind it) is shared anyway.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.array: np.ndarray = np.load(self.path, mmap_mode="r")

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])

    def __len__(self) -> int:
        return len(self.array)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Image rows by flat id (frame, channel, row) -> [len(ids), W]; only they are read."""
        return torch.from_numpy(self.array.reshape(-1, self.array.shape[-1])[ids.numpy()])


@dataclass
class DomainTensors:
    """A domain's frames (uint8 [N, 3, H, W], in memory or on disk) and masks (float16 weight
    maps, [N, 1, H, W]), if any, ready to index."""

    images: torch.Tensor | DiskFrames
    masks: torch.Tensor | None
    segments: np.ndarray | None = None  # which frames are consecutive (faceoff.data.Domain)

    @classmethod
    def from_domain(
        cls, domain: Domain, masks: np.ndarray | None, frames: DiskFrames | None = None
    ) -> DomainTensors:
        """In memory, or ``frames`` (the domain's frames already in the disk cache)."""
        mask_t = torch.from_numpy(masks).unsqueeze(1).contiguous() if masks is not None else None
        images = frames if frames is not None else to_tensor(domain.frames)
        return cls(images, mask_t, domain.segments)

    def clip_starts(self, length: int) -> torch.Tensor:
        """The frames that begin ``length`` consecutive frames (:meth:`Domain.clip_starts`)."""
        if length <= 1:
            return torch.arange(len(self))
        probe = Domain(np.zeros((len(self), 1, 1, 3), np.uint8), [""] * len(self))
        probe.segments = self.segments
        return torch.from_numpy(probe.clip_starts(length))

    def __len__(self) -> int:
        return len(self.images)

    def windows(
        self,
        index: torch.Tensor,
        tops: torch.Tensor,
        lefts: torch.Tensor,
        flips: torch.Tensor,
        crop: int,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Frames ``index`` cropped (and flipped) as :func:`crop_windows` says, masks alike,
        reading only the rows the windows cover."""
        where = (index, tops, lefts, flips, crop)
        out_masks = crop_windows(self.masks, *where) if self.masks is not None else None
        return crop_windows(self.images, *where), out_masks


def batch_seed(*numbers: int) -> int:
    """A 63-bit seed from a tuple of integers (seed, epoch, step, rank): a hash, so that nearby
    tuples give unrelated streams and no state has to be carried between batches."""
    digest = hashlib.blake2b(repr(numbers).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


class UnpairedBatches:
    """The reference's unaligned sampling: A in shuffled order, B at random, per epoch.

    A's index is the shuffled position modulo the size of A; B's index is uniform, as in the
    reference's unaligned dataset. Each epoch's order comes from (seed, epoch) alone, and B's
    indices, the crops and the flips from (seed, epoch, step_in_epoch, rank) alone.

    With ``clip`` T > 1 an item is T consecutive frames (Recycle-GAN's triplets), [n, T, 3, c, c]
    with one crop and flip per clip: the positions are then those of the frames that start a
    clip, so an epoch counts clips, and no clip joins frames across a gap.
    """

    def __init__(
        self,
        a: DomainTensors,
        b: DomainTensors,
        *,
        batch_size: int,
        crop_size: int,
        flip: bool,
        seed: int,
        rank: int = 0,
        clip: int = 1,
    ) -> None:
        self.a, self.b = a, b
        self.batch_size, self.crop_size, self.flip = batch_size, crop_size, flip
        self.seed, self.rank, self.clip = seed, rank, clip
        self.starts = (a.clip_starts(clip), b.clip_starts(clip))
        for label, starts in zip("AB", self.starts):
            if len(starts) == 0:
                raise FaceoffError(
                    f"data.source: no {clip} consecutive frames in the train split of {label}; "
                    "the objective trains on clips (a frames folder gives them when its file "
                    "names end in consecutive frame numbers: faceoff extract --clip "
                    f"{clip})"
                )
        self.epoch_size = max(len(s) for s in self.starts)
        self._order: tuple[int, torch.Tensor] | None = None

    def order(self, epoch: int) -> torch.Tensor:
        """The shuffled positions of one epoch."""
        if self._order is None or self._order[0] != epoch:
            rng = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._order = (epoch, torch.randperm(self.epoch_size, generator=rng))
        return self._order[1]

    def batch(self, epoch: int, step_in_epoch: int) -> dict[str, torch.Tensor]:
        """Batch number ``step_in_epoch`` of ``epoch``: the same whenever and wherever made."""
        n = self.batch_size
        generator = torch.Generator().manual_seed(
            batch_seed(self.seed, epoch, step_in_epoch, self.rank)
        )
        picks = self.order(epoch)[(torch.arange(n) + step_in_epoch * n) % self.epoch_size]
        starts_a, starts_b = self.starts
        index_a = starts_a[picks % len(starts_a)]
        index_b = starts_b[torch.randint(0, len(starts_b), (n,), generator=generator)]
        out: dict[str, torch.Tensor] = {}
        for label, data, index in (("A", self.a, index_a), ("B", self.b, index_b)):
            _, _, h, w = data.images.shape
            windows = random_windows(n, h, w, self.crop_size, self.flip, generator)
            images, masks = self._windows(data, index, windows)
            out[label] = images
            if masks is not None:
                out[f"mask_{label}"] = masks
        return out

    def _windows(
        self, data: DomainTensors, starts: torch.Tensor, windows: tuple[torch.Tensor, ...]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Single frames, or each start's clip with its window repeated over the clip."""
        if self.clip == 1:
            return data.windows(starts, *windows, self.crop_size)
        t = self.clip
        index = (starts[:, None] + torch.arange(t)).reshape(-1)
        repeated = [w.repeat_interleave(t) for w in windows]
        images, masks = data.windows(index, *repeated, self.crop_size)
        shaped = images.view(len(starts), t, *images.shape[1:])
        return shaped, None if masks is None else masks.view(len(starts), t, *masks.shape[1:])


def random_windows(
    n: int, height: int, width: int, crop: int, flip: bool, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per image: the top and left of a ``crop`` window and whether to flip it."""
    tops = torch.randint(0, height - crop + 1, (n,), generator=generator)
    lefts = torch.randint(0, width - crop + 1, (n,), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    return tops, lefts, flips


def crop_windows(
    frames: torch.Tensor | DiskFrames,
    index: torch.Tensor,
    tops: torch.Tensor,
    lefts: torch.Tensor,
    flips: torch.Tensor,
    crop: int,
) -> torch.Tensor:
    """[N, C, H, W] frames -> [n, C, crop, crop]: of frame ``index[i]``, the window at
    (``tops[i]``, ``lefts[i]``), mirrored where ``flips[i]``.

    Two vectorised steps, no loop over the images: the rows the windows cover, picked whole by
    one ``index_select`` (contiguous copies; from the disk cache, only those rows are read), then
    the columns by one ``gather`` whose column indices run right to left for a flipped window.
    """
    n = len(index)
    _, c, h, w = frames.shape
    steps = torch.arange(crop)
    rows = ((index * c)[:, None] + torch.arange(c))[:, :, None] * h + tops[:, None, None] + steps
    if isinstance(frames, DiskFrames):
        picked = frames.rows(rows.view(-1))
    else:
        picked = frames.reshape(-1, w).index_select(0, rows.view(-1))
    cols = lefts[:, None] + torch.where(flips[:, None], crop - 1 - steps, steps)  # [n, crop]
    out = picked.view(n, c * crop, w).gather(2, cols[:, None, :].expand(n, c * crop, crop))
    return out.view(n, c, crop, crop)


def crop_flip(
    images: torch.Tensor,
    masks: torch.Tensor | None,
    crop: int,
    flip: bool,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A random ``crop`` x ``crop`` window and random horizontal flip per image, mask alike."""
    n, _, h, w = images.shape
    tops, lefts, flips = random_windows(n, h, w, crop, flip, generator)
    index = torch.arange(n)
    out_masks = crop_windows(masks, index, tops, lefts, flips, crop) if masks is not None else None
    return crop_windows(images, index, tops, lefts, flips, crop), out_masks


# --- the disk cache of decoded frames -----------------------------------------------------------


def frames_key(domain: Domain, source: dict[str, Any], size: int) -> str:
    """The cache key of a domain's decoded frames: the data source (plugin and params), the size,
    the frame names and a hash of the pixels themselves, so changed frames never reuse a file."""
    digest = hashlib.sha256()  # hardware-accelerated on most CPUs: ~1 GiB/s
    meta = {"source": source, "size": size, "names": domain.names, "shape": domain.frames.shape}
    digest.update(json.dumps(meta, sort_keys=True, default=str).encode())
    frames = np.ascontiguousarray(domain.frames)
    for start in range(0, len(frames), 256):  # a slice of a contiguous array: no copy
        digest.update(frames[start : start + 256])
    return digest.hexdigest()[:32]


def disk_frames(domain: Domain, folder: Path, key: str) -> DiskFrames:
    """The domain's frames as uint8 [N, 3, H, W] in ``folder/<key>.npy``: written once
    (atomically, a few frames at a time so no second full copy is held), reused after."""
    path = folder / f"{key}.npy"
    n, h, w, _ = domain.frames.shape
    if path.is_file():
        try:
            found = DiskFrames(path)
            if found.shape == (n, 3, h, w) and found.array.dtype == np.uint8:
                return found
        except (OSError, ValueError):
            pass  # unreadable or truncated: written again below
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 3, h, w))
        for start in range(0, n, 256):
            out[start : start + 256] = domain.frames[start : start + 256].transpose(0, 3, 1, 2)
        out.flush()
        del out
    return DiskFrames(path)


# --- batches as a dataset of steps, for a DataLoader ------------------------------------------


class StepBatches(Dataset):
    """The batches of steps ``start ... total - 1`` as a map-style dataset: item ``i`` is the
    whole batch of step ``start + i``. Any worker can make any step's batch, so a DataLoader over
    it starts at the resumed step and its workers may run in any order."""

    def __init__(
        self, batches: UnpairedBatches, start: int, total: int, steps_per_epoch: int
    ) -> None:
        self.batches, self.start, self.total = batches, start, total
        self.steps_per_epoch = steps_per_epoch

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        epoch, within = divmod(self.start + i, self.steps_per_epoch)
        return self.batches.batch(epoch, within)


def _worker_init(worker_id: int) -> None:
    """Workers leave Ctrl-C and SIGTERM to the main process: it finishes the step and writes a
    checkpoint, then stops the workers; a worker killed first would abort that."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def resolve_workers(workers: int | str, device: torch.device) -> int:
    """``train.workers``: 'auto' is 0 on the CPU (a worker takes cores from the step) and
    min(4, CPU count) on CUDA."""
    if workers != "auto":
        return int(workers)
    if device.type != "cuda":
        return 0
    return min(4, os.cpu_count() or 1)


def batch_loader(
    dataset: StepBatches, *, workers: int, prefetch_factor: int, pin_memory: bool
) -> DataLoader:
    """A DataLoader handing out whole batches in step order.

    It is iterated once for the whole run, so its workers live as long as the run without
    ``persistent_workers``. Its own generator keeps it from drawing on the global torch RNG
    (whose state is part of a checkpoint).
    """
    return DataLoader(
        dataset,
        batch_size=None,
        shuffle=False,
        num_workers=workers,
        prefetch_factor=prefetch_factor if workers > 0 else None,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if workers > 0 else None,
        generator=torch.Generator().manual_seed(0),
    )


def move_batch(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A batch on ``device``: asynchronous copies from pinned memory on CUDA."""
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
