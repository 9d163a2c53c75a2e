"""The CycleGAN training loop, its checkpoints and what it writes into a run folder."""
