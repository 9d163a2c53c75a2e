"""The reference's learning-rate rule: constant, then linear decay to zero."""

from __future__ import annotations


def lr_factor(epoch: int, epochs: int, decay_epochs: int) -> float:
    """Multiplier of the initial rate in 0-based ``epoch``.

    The reference's rule with epoch_count 1: 1 - max(0, epoch + 1 - epochs) / (decay_epochs + 1).
    """
    return 1.0 - max(0, epoch + 1 - epochs) / float(decay_epochs + 1)
