"""PatchNCE: the MLP heads that sample and project feature patches, and the contrastive loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _xavier(module: nn.Module, gain: float = 0.02) -> nn.Module:
    """CUT's init of its MLP heads: Xavier-normal weights with gain 0.02, biases 0."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight, gain=gain)
            nn.init.zeros_(layer.bias)
    return module


class PatchSampler(nn.Module):
    """One two-layer MLP (``channels[i]`` -> ``width`` -> ``width``, ReLU between) per tapped
    layer, applied to features at sampled locations, then L2-normalised (CUT's ``mlp_sample``)."""

    def __init__(self, channels: list[int], width: int = 256) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(
            _xavier(nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width)))
            for c in channels
        )

    def forward(
        self,
        features: list[torch.Tensor],
        num_patches: int,
        ids: list[torch.Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per layer, [B * P, width] projections of the features at ``ids`` (drawn at random
        from ``generator`` when None: the same locations for every image of the batch) and the
        ids used."""
        out, used = [], []
        for i, (feat, mlp) in enumerate(zip(features, self.mlps)):
            flat = feat.permute(0, 2, 3, 1).flatten(1, 2)  # [B, H*W, C]
            if ids is None:
                pick = torch.randperm(flat.shape[1], generator=generator)
                pick = pick[: min(num_patches, flat.shape[1])].to(feat.device)
            else:
                pick = ids[i]
            x = mlp(flat[:, pick, :].flatten(0, 1))
            out.append(x / (x.norm(p=2, dim=1, keepdim=True) + 1e-7))
            used.append(pick)
        return out, used


def patch_nce(
    query: torch.Tensor,
    key: torch.Tensor,
    batch: int,
    temperature: float,
    negatives_from_batch: bool = False,
) -> torch.Tensor:
    """PatchNCE per patch, [B * P]: cross-entropy of the positive (the key at the query's own
    location) against the keys at the other sampled locations of the same image (of the whole
    batch with ``negatives_from_batch``); keys carry no gradient."""
    key = key.detach()
    positive = (query * key).sum(dim=1, keepdim=True)
    groups = 1 if negatives_from_batch else batch
    dim = query.shape[1]
    q, k = query.view(groups, -1, dim), key.view(groups, -1, dim)
    patches = q.shape[1]
    negative = torch.bmm(q, k.transpose(2, 1))
    diagonal = torch.eye(patches, device=query.device, dtype=torch.bool)[None]
    negative = negative.masked_fill(diagonal, -10.0).view(-1, patches)
    logits = torch.cat([positive, negative], dim=1) / temperature
    target = torch.zeros(len(logits), dtype=torch.long, device=query.device)
    return F.cross_entropy(logits, target, reduction="none")
