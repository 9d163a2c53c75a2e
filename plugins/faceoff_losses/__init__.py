"""The paper's loss variants: vanilla GAN, WGAN, WGAN-GP, SSIM, MS-SSIM and mask-weighted L1."""
