"""A plugin whose import fails, as one needing a missing native library would."""

raise ImportError("needs libfoo")
