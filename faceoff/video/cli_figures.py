"""The `faceoff figures` command(s): parsing and printing only; the work lives beside it."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
