"""Hostile faceoff plugins, one per module, for faceoff's tests (tests/test_hostile_plugins.py)."""
