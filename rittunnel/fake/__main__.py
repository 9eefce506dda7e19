import argparse
import sys

from .cli import add_arguments, run

parser = argparse.ArgumentParser(prog="python -m rittunnel.fake", description="fake remote.it API")
add_arguments(parser)
sys.exit(run(parser.parse_args()))
