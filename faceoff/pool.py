"""The reference's image pool, for objectives: discriminators also see older generated images."""

from __future__ import annotations

import torch


class ImagePool:
    """A buffer of up to ``size`` generated images (Shrivastava et al. 2017).

    Until full, each image is stored and returned. Then each image is, with probability 0.5,
    swapped for a random stored one (which is returned) or returned as is. Randomness comes from
    ``generator`` so a resumed run draws the same numbers.
    """

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size = size
        self.generator = generator
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif torch.rand(1, generator=self.generator).item() > 0.5:
                index = int(torch.randint(0, self.size, (1,), generator=self.generator).item())
                out.append(self.images[index].clone())
                self.images[index] = image
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor | None:
        """The stored images as one tensor (for checkpoints), or None when empty."""
        return torch.cat(self.images, 0) if self.images else None

    def load(self, images: torch.Tensor | None, device: torch.device) -> None:
        """Restore :meth:`state`; a tensor that is no batch of up to ``size`` finite images
        [N, C, H, W] is a ValueError, rather than a failure at the next query."""
        if images is not None and (
            images.dim() != 4
            or not images.is_floating_point()
            or len(images) > self.size
            or not bool(images.isfinite().all())
        ):
            raise ValueError(
                f"image pool: {images.dtype} {list(images.shape)}; expected up to {self.size} "
                "finite images [N, C, H, W]"
            )
        self.images = [] if images is None else [im.unsqueeze(0).to(device) for im in images]
