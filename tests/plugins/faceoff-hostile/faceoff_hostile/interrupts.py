"""A plugin that raises KeyboardInterrupt at import (an interrupted download, a stray raise)."""

raise KeyboardInterrupt
