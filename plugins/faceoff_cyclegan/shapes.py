"""Size arithmetic of the reference networks, without torch (used at validation time)."""

from __future__ import annotations


def _conv(size: int, stride: int) -> int:
    """Output size of a 4x4 convolution with padding 1."""
    return (size + 2 - 4) // stride + 1


def patchgan_output_size(size: int, n_layers: int) -> int:
    """Side of the PatchGAN score map for a square input (30 for 256 px with 3 layers)."""
    for _ in range(n_layers):
        size = _conv(size, 2)
    return _conv(_conv(size, 1), 1)


def _normed_sizes(size: int, n_layers: int) -> list[int]:
    sizes = []
    size = _conv(size, 2)  # the first convolution has no norm after it
    for _ in range(n_layers - 1):
        size = _conv(size, 2)
        sizes.append(size)
    sizes.append(_conv(size, 1))
    return sizes


def patchgan_smallest_size(n_layers: int) -> int:
    """Smallest input side for which every instance-normalised layer has more than one value."""
    size = 4
    while min(_normed_sizes(size, n_layers)) < 2 or patchgan_output_size(size, n_layers) < 1:
        size += 1
    return size
