"""``python -m faceoff`` (and ``torchrun -m faceoff``) behave like the ``faceoff`` command."""

from faceoff.cli import main

main()
