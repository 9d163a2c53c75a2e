"""The synthetic data source: each person's frames form one continuous sequence.

The first ``frames`` of the sequence are the train split and the next ``test_frames`` the test
split, so the test frames play as a video, as in the paper's data sets.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from faceoff.data import Domain, Split
from faceoff_synthetic import SyntheticParams
from faceoff_synthetic.render import make_identities, render_frames, render_sequence


class SyntheticSource:
    """Renders on first use at a size and keeps the frames for the other split.

    It can draw either person with any parameters (``faceoff.capabilities.RendersPeople``), so
    ``faceoff eval`` knows the true face-off.
    """

    def __init__(self, params: SyntheticParams) -> None:
        self.params = params
        self._rendered: dict[int, dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]] = {}

    def _sequence(self, size: int) -> dict[str, tuple[np.ndarray, dict[str, np.ndarray]]]:
        if size not in self._rendered:
            n = self.params.frames + self.params.test_frames
            self._rendered[size] = {
                person: render_sequence(self.params.seed, person, n, size) for person in ("A", "B")
            }
        return self._rendered[size]

    def render_person(self, person: str, params: Mapping[str, np.ndarray], size: int) -> np.ndarray:
        """Person ``"A"`` or ``"B"`` drawn with per-frame ``params``, as ``load`` draws them."""
        if person not in ("A", "B"):
            raise ValueError(f"person must be 'A' or 'B', got {person!r}")
        identity = make_identities(self.params.seed)["AB".index(person)]
        return render_frames(identity, params, size)

    def load(self, split: Split, size: int) -> tuple[Domain, Domain]:
        start, stop = (
            (0, self.params.frames)
            if split == "train"
            else (self.params.frames, self.params.frames + self.params.test_frames)
        )
        domains = []
        for person in ("A", "B"):
            frames, params = self._sequence(size)[person]
            domains.append(
                Domain(
                    frames=frames[start:stop],
                    names=[f"{person}_{i:05d}.png" for i in range(start, stop)],
                    params={k: v[start:stop] for k, v in params.items()},
                    truth={"synthetic_seed": self.params.seed, "person": person},
                    segments=np.zeros(stop - start, np.int64),  # one continuous sequence
                )
            )
        return domains[0], domains[1]
