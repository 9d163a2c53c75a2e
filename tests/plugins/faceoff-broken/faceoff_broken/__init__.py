"""Broken faceoff plugins, one per module, for faceoff's tests."""
