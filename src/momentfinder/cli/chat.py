"""``momentfinder chat VIDEO``: ask questions about one video in turn; each may refine the last
answer ("the one after that", "shorter", "not in the kitchen"). Interactive with readline history,
or one question per line from piped standard input."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import MomentFinderError
from .options import (
    add_grounding_options,
    add_model_options,
    add_question_options,
    finder_from_args,
    parser_settings_from_args,
    warn,
)

QUIT = {"quit", "exit", ":q", "bye"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "chat",
        help="ask questions about a video in turn, refining the answers",
        description="Ask questions about VIDEO, one per line; a line may refine the last answer "
        "('the one after that', 'show the other one', 'shorter', 'not in the kitchen', 'how many "
        "times?'). Type quit or press Ctrl-D to stop. Reads questions from standard input when "
        "it is not a terminal.",
    )
    p.add_argument("video", help="video (or audio with subtitles) file")
    add_model_options(p)
    add_grounding_options(p)
    add_question_options(p)
    p.add_argument("--json", action="store_true", help="one JSON object per answer")
    p.add_argument(
        "--history",
        metavar="FILE",
        default=None,
        help="readline history file (default $XDG_STATE_HOME/momentfinder/chat_history, "
        "else ~/.cache/momentfinder/chat_history)",
    )
    p.set_defaults(func=run)


def history_path(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    base = os.environ.get("XDG_STATE_HOME") or os.environ.get("XDG_CACHE_HOME")
    base = base or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "momentfinder", "chat_history")


def run(args: argparse.Namespace) -> int:
    from ..pipeline.conversation import Conversation

    settings = parser_settings_from_args(args)
    finder = finder_from_args(args)
    chat = Conversation(finder, args.video, args.subtitles, settings)
    for note in chat.notes:
        warn(args, note)
    interactive = sys.stdin.isatty()
    history = _load_history(history_path(args.history)) if interactive else None
    try:
        for line in _lines(interactive):
            question = line.strip()
            if not question:
                continue
            if question.lower() in QUIT:
                break
            try:
                answer = chat.ask(question)
            except MomentFinderError as err:  # one bad turn does not end the conversation
                print(f"momentfinder: error: {err}", file=sys.stderr, flush=True)
                continue
            if args.json:
                print(json.dumps(answer.to_json()), flush=True)
                continue
            if args.explain:
                print(answer.query.explain())
            print(answer.text, flush=True)
    finally:
        if history is not None:
            _save_history(history)
    return 0


def _lines(interactive: bool):
    if not interactive:
        yield from sys.stdin
        return
    while True:
        try:
            yield input("> ")
        except EOFError:
            print()
            return


def _load_history(path: str) -> str | None:
    try:
        import readline
    except ImportError:  # no readline (Windows): plain input()
        return None
    try:
        readline.read_history_file(path)
    except OSError:
        pass  # no history yet
    readline.set_history_length(1000)
    return path


def _save_history(path: str) -> None:
    import readline

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        readline.write_history_file(path)
    except OSError:
        pass  # history is a convenience: a read-only home does not fail the chat
