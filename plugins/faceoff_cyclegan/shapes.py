"""Size arithmetic of the reference networks, without torch (used at validation time)."""

from __future__ import annotations


def _conv(size: int, stride: int) -> int:
    """Output size of a 4x4 convolution with padding 1."""
    return (size + 2 - 4) // stride + 1


def _blur_down(size: int) -> int:
    """Output size of the anti-aliased subsampling (3x3 filter, padding 1, stride 2)."""
    return (size + 2 - 3) // 2 + 1


def _downsampling(size: int, antialias: bool) -> tuple[int, int]:
    """(size after the layer's norm, size after the layer) of a downsampling PatchGAN layer."""
    if antialias:
        conv = _conv(size, 1)
        return conv, _blur_down(conv)
    out = _conv(size, 2)
    return out, out


def patchgan_output_size(size: int, n_layers: int, antialias: bool = False) -> int:
    """Side of the PatchGAN score map for a square input (30 for 256 px with 3 layers)."""
    for _ in range(n_layers):
        size = _downsampling(size, antialias)[1]
    return _conv(_conv(size, 1), 1)


def _normed_sizes(size: int, n_layers: int, antialias: bool) -> list[int]:
    sizes = []
    size = _downsampling(size, antialias)[1]  # the first convolution has no norm after it
    for _ in range(n_layers - 1):
        normed, size = _downsampling(size, antialias)
        sizes.append(normed)
    sizes.append(_conv(size, 1))
    return sizes


def patchgan_smallest_size(n_layers: int, normed: bool = True, antialias: bool = False) -> int:
    """Smallest input side for which the score map has at least one value and, when ``normed``,
    every normalised layer has more than one value per channel."""
    size = 4
    while (normed and min(_normed_sizes(size, n_layers, antialias)) < 2) or patchgan_output_size(
        size, n_layers, antialias
    ) < 1:
        size += 1
    return size


def resnet_output_size(size: int) -> int:
    """Side of the ResNet generator's output: two stride-2 3x3 convs down, two 2x up."""
    for _ in range(2):
        size = (size + 2 - 3) // 2 + 1
    return size * 4


def unet_smallest_size(num_downs: int) -> int:
    """Smallest input side of a U-Net with ``num_downs`` levels (its bottleneck is 1x1)."""
    return 2**num_downs


def unet_fits(size: int, num_downs: int) -> bool:
    """Every level halves an even size, so the skip connections line up: 2**num_downs | size."""
    return size >= 2**num_downs and size % 2**num_downs == 0


def unet_levels_for(size: int, lowest: int = 5) -> int | None:
    """The most levels (at least ``lowest``) a U-Net can have for this input size, or None."""
    best = None
    levels = lowest
    while unet_fits(size, levels):
        best = levels
        levels += 1
    return best
