"""Reading A and B frame folders, with the per-frame ground truth when a params.csv is there."""

from __future__ import annotations

from pathlib import Path

from faceoff.data import Domain, Split, read_image_folder, segments_from_names
from faceoff.data.params_file import read_params
from faceoff_frames import FramesParams


class FramesSource:
    """The ``frames`` data source: ``<a>/train``, ``<a>/test``, ``<b>/train``, ``<b>/test``.

    Frames whose names end in consecutive numbers (``frame_000123.png``, as ``faceoff extract``
    writes them) are consecutive in time: objectives that train on clips can use them.
    """

    def __init__(self, params: FramesParams) -> None:
        root = Path(params.root) if params.root else None
        self.folders = (
            (root / "A", root / "B") if root else (Path(params.a or ""), Path(params.b or ""))
        )

    def load(self, split: Split, size: int) -> tuple[Domain, Domain]:
        domains = []
        for folder in self.folders:
            domain = read_image_folder(folder / split, size, required=split == "train")
            domain.params = read_params(folder, split, domain.names)
            domain.segments = segments_from_names(domain.names)
            domains.append(domain)
        return domains[0], domains[1]
