import argparse
import sys

from ..commands.options import options_from
from .cli import FakeApiOptions, add_arguments, run

parser = argparse.ArgumentParser(prog="python -m rittunnel.fake", description="fake remote.it API")
add_arguments(parser)
sys.exit(run(options_from(FakeApiOptions, parser.parse_args())))
