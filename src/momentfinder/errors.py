"""Errors meant for people: the CLI prints ``str(err)`` as one line and exits non-zero."""


class MomentFinderError(Exception):
    """Base class for every error momentfinder reports to a user."""

    exit_code = 2


class InputError(MomentFinderError):
    """Bad user input: a missing or unreadable file, an empty query, a malformed record."""


class UsageError(InputError):
    """Options that contradict each other or make the command meaningless."""


class NotFoundError(InputError):
    """Something named that does not exist: a video id the library does not hold."""


class MediaError(InputError):
    """A file that is not a readable video/audio file (corrupt, truncated, zero-length)."""


class ModelUnavailableError(MomentFinderError):
    """A model id or directory that cannot be loaded (offline, misspelled, incompatible)."""

    exit_code = 3
