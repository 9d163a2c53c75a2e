"""The puppets data source: each photo animated into one continuous sequence.

The first ``frames`` of the sequence are the train split and the next ``test_frames`` the test
split, as the synthetic source's. Photos are read and their landmarks found (or read from the
cache) on first use; a missing photo file is refused when the source is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from faceoff.data import Domain, Split
from faceoff.errors import FaceoffError
from faceoff_puppets import PuppetsParams


class PuppetsSource:
    """Renders on first use at a size and keeps the frames for the other split."""

    def __init__(self, params: PuppetsParams) -> None:
        self.params = params
        for i, photo in enumerate(params.photos or ()):
            path = Path(os.path.expanduser(photo))  # left as it is without a home folder
            if not path.is_file():
                raise FaceoffError(
                    f"data source puppets: param photos[{i}] {photo!r}: no such file"
                )
        self._photos = None
        self._rendered: dict[int, dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]] = {}

    def puppet(self, person: str, size: int):
        """Person ``"A"``'s or ``"B"``'s photo prepared for frames of ``size`` px."""
        from faceoff_puppets.animate import make_puppet, working_side
        from faceoff_puppets.photos import load_photos

        if person not in ("A", "B"):
            raise ValueError(f"person must be 'A' or 'B', got {person!r}")
        if self._photos is None:
            self._photos = load_photos(self.params.photos)
        photo, p = self._photos["AB".index(person)], self.params
        return make_puppet(photo.image, photo.landmarks, working_side(size), p.face, p.mouth)

    def render_person(self, person: str, params: Mapping[str, np.ndarray], size: int) -> np.ndarray:
        """Person ``"A"`` or ``"B"`` drawn with per-frame ``params``, as ``load`` draws them
        (``faceoff.capabilities.RendersPeople``: ``faceoff eval`` draws the true face-off)."""
        from faceoff_puppets.animate import render_frames

        return render_frames(self.puppet(person, size), params, size)

    def _sequence(self, size: int) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
        from faceoff_puppets.animate import trajectory

        if size not in self._rendered:
            p = self.params
            n = p.frames + p.test_frames
            ranges = p.model_dump(include={"mouth", "blink", "smile", "brow", "yaw", "roll"})
            ranges |= p.model_dump(include={"shift", "zoom"})
            done = {}
            for index, person in enumerate("AB"):
                params = trajectory(p.seed, index, n, ranges)
                done[person] = (self.render_person(person, params, size), params)
            self._rendered[size] = done
        return self._rendered[size]

    def load(self, split: Split, size: int) -> tuple[Domain, Domain]:
        p = self.params
        start, stop = (0, p.frames) if split == "train" else (p.frames, p.frames + p.test_frames)
        sequences = self._sequence(size)
        domains = []
        for index, person in enumerate("AB"):
            frames, params = sequences[person]
            domains.append(
                Domain(
                    frames=frames[start:stop],
                    names=[f"{person}_{i:05d}.png" for i in range(start, stop)],
                    params={k: v[start:stop] for k, v in params.items()},
                    truth={
                        "puppets_seed": p.seed,
                        "person": person,
                        "photo": self._photos[index].label,
                        "puppets_params": p.model_dump(mode="json"),  # for the mask provider
                    },
                    segments=np.zeros(stop - start, np.int64),  # one continuous sequence
                )
            )
        return domains[0], domains[1]
