"""A plugin that ends the program at import, as a script's ``sys.exit`` left in would."""

import sys

sys.exit(0)
