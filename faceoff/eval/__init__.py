"""Evaluating a trained generator: how well its outputs keep the input's expression."""
