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
    "index",
    "search",
    "cut",
    "eval",
    "data",
    "train",
    "predict",
    "serve",
    "chat",
    "transcribe",
    "watch",
    "train_ranker",
]


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``momentfinder ground: error: ... (see --help)``, exit 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = Parser(prog="momentfinder", description="Find the moments in a video where a sentence happens.")
    parser.add_argument("--version", action="version", version=f"momentfinder {__version__}")
    _add_common(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    for command in sub.choices.values():  # -v and -q work before and after the command name
        _add_common(command, argparse.SUPPRESS)
    return parser


def _add_common(parser: argparse.ArgumentParser, default) -> None:
    """``-v`` and ``-q``; on a sub-command their default is SUPPRESS, so one given before the
    command name is not reset by the sub-command's parser."""
    options = parser._option_string_actions
    if "-v" not in options:
        parser.add_argument(
            "-v", "--verbose", action="store_true", default=default, help="log debug messages"
        )
    if "-q" not in options:
        parser.add_argument(
            "-q", "--quiet", action="store_true", default=default, help="no progress bars, no warnings"
        )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.WARNING
    logging.basicConfig(level=level, format="momentfinder: %(levelname)s: %(message)s", force=True)
    if args.quiet:
        import warnings

        warnings.simplefilter("ignore")
    try:
        return int(args.func(args) or 0)
    except MomentFinderError as err:
        message = str(err).replace("\n", "\\n")  # one line, even when it quotes a name with a newline
        print(f"momentfinder: error: {message}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("momentfinder: interrupted", file=sys.stderr)
        return 130
    except OSError as err:  # a file system fault the stages did not word themselves (disk full, denied)
        if args.verbose:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"momentfinder: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug: one line for the user, the traceback with -v
        if args.verbose:
            raise
        text = (str(err).strip().splitlines() or [""])[0][:300]
        print(
            f"momentfinder: internal error: {type(err).__name__}: {text} (run again with -v for the "
            "traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
