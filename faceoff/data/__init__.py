"""Frames in: the data-source contract, image folders, and training augmentation."""

from faceoff.data.domain import (
    DataSource,
    Domain,
    DomainError,
    Split,
    frames_problem,
    load_split,
    segments_from_names,
    source_label,
)
from faceoff.data.images import IMAGE_EXTENSIONS, read_image_folder, resize_frames

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataSource",
    "Domain",
    "DomainError",
    "Split",
    "frames_problem",
    "load_split",
    "read_image_folder",
    "resize_frames",
    "segments_from_names",
    "source_label",
]
