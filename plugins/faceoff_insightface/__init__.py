"""Mask provider plugin (insightface)."""
