"""``momentfinder`` command line: argument parsing only; every command calls the library.

Each sub-command lives in its own module of this package with a ``register(subparsers)``
function that adds its parser and sets ``func`` (called with the parsed namespace, returns
an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import MomentFinderError

# Modules of this package that define sub-commands, in the order ``--help`` lists them.
COMMAND_MODULES = [
    "ground",
    "extract",
    "cut",
    "eval",
    "data",
    "train",
    "predict",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="momentfinder",
        description="Find the moments in a video where a sentence happens.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="momentfinder: %(levelname)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except MomentFinderError as err:
        print(f"momentfinder: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("momentfinder: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
