"""Mask provider plugin (fcn)."""
