"""Mask provider plugin (dlib)."""
