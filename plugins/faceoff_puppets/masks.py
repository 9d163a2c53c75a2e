"""The ``puppets`` mask provider: each puppet frame's face mask from the landmarks it was drawn
with (no detection), drawn as the dlib provider draws a detected face's.

So a local discriminator or a mask weight finds the mouth where the warp put it, including in
frames where the animated face is too small or turned for a detector.
"""

from __future__ import annotations

import numpy as np

from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff_puppets import PuppetsMaskParams, PuppetsParams


class PuppetsMaskProvider:
    """Masks from the puppets source's ground truth (``Domain.truth`` and ``Domain.params``)."""

    def __init__(self, params: PuppetsMaskParams) -> None:
        self.params = params

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        raise FaceoffError(
            "mask provider puppets: knows only frames of the puppets data source "
            "(data.source.plugin puppets), not arbitrary images; use dlib or insightface"
        )

    def domain_masks(self, domain: Domain) -> list[np.ndarray | None]:
        from faceoff_dlib.provider import render_mask
        from faceoff_puppets.animate import frame_landmarks
        from faceoff_puppets.source import PuppetsSource

        truth = domain.truth or {}
        if "puppets_params" not in truth or domain.params is None:
            raise FaceoffError(
                "mask provider puppets: needs frames of the puppets data source "
                "(data.source.plugin puppets); use dlib or insightface for other frames"
            )
        source = PuppetsSource(PuppetsParams.model_validate(truth["puppets_params"]))
        size = domain.frames.shape[1]
        puppet = source.puppet(truth["person"], size)
        s = self.params
        return [
            render_mask(
                frame_landmarks(puppet, {k: float(v[i]) for k, v in domain.params.items()}, size),
                (size, size),
                extended=s.extended,
                eye_weight=s.eye_weight,
                mouth_weight=s.mouth_weight,
            )
            for i in range(len(domain))
        ]
