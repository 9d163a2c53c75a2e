"""Frames in: the data-source contract, image folders, and training augmentation."""

from faceoff.data.domain import DataSource, Domain, Split, segments_from_names
from faceoff.data.images import IMAGE_EXTENSIONS, read_image_folder, resize_frames

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataSource",
    "Domain",
    "Split",
    "read_image_folder",
    "resize_frames",
    "segments_from_names",
]
