"""The ``synthetic`` mask provider: each synthetic frame's true face outline, redrawn.

Landmark detectors (dlib, insightface) are trained on photographs and may miss or misplace a
cartoon face; this provider knows the outline, so mask experiments on the synthetic set measure
the mask's use, not the detector's errors.
"""

from __future__ import annotations

import numpy as np

from faceoff.data import Domain
from faceoff.errors import FaceoffError
from faceoff_synthetic import SyntheticMaskParams
from faceoff_synthetic.render import make_identities, render_mask


class SyntheticMaskProvider:
    """Masks from the synthetic source's ground truth (``Domain.truth`` and ``Domain.params``)."""

    def __init__(self, params: SyntheticMaskParams) -> None:
        self.params = params

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        raise FaceoffError(
            "mask provider synthetic: knows only frames of the synthetic data source "
            "(data.source.plugin synthetic), not arbitrary images; use dlib or insightface"
        )

    def domain_masks(self, domain: Domain) -> list[np.ndarray | None]:
        truth = domain.truth or {}
        if "synthetic_seed" not in truth or domain.params is None:
            raise FaceoffError(
                "mask provider synthetic: needs frames of the synthetic data source "
                "(data.source.plugin synthetic); use dlib or insightface for other frames"
            )
        identity = make_identities(int(truth["synthetic_seed"]))["AB".index(truth["person"])]
        size = domain.frames.shape[1]
        return [
            render_mask(
                identity,
                {name: float(values[i]) for name, values in domain.params.items()},
                size,
                eye_weight=self.params.eye_weight,
                mouth_weight=self.params.mouth_weight,
            )
            for i in range(len(domain))
        ]
