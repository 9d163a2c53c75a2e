"""A plugin whose import-time ``argparse`` requires an argument: it prints its usage, exits 2."""

import argparse

parser = argparse.ArgumentParser(prog="hostile-tool")
parser.add_argument("checkpoint")
parser.parse_args()
