"""faceoff: a plugin-based CycleGAN toolkit for face-off videos."""

from faceoff.errors import FaceoffError
from faceoff.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["FaceoffError", "__version__", "hookimpl"]
