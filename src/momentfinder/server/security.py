"""Who may write and which files may be read: the write token and the library roots."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from collections.abc import Iterable

from fastapi import HTTPException, Request

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-MomentFinder-Token"


def load_or_create_token(path: str) -> tuple[str, bool]:
    """The write token kept in ``path`` (created with mode 0600 when missing, a file others can read
    is narrowed to 0600); returns ``(token, created)``."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            log.warning("%s could be read by others (mode %o): narrowed to 0600", path, mode)
            os.chmod(path, 0o600)
        with open(path, encoding="ascii") as f:
            kept = f.read().strip()
        if len(kept) >= 16:
            return kept, False
        log.warning("%s held no usable token: a new one is written", path)
        with open(path, "w", encoding="ascii") as f:
            f.write(token + "\n")
        return token, True
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token, True


def presented_token(request: Request) -> str | None:
    """The token a request carries: ``Authorization: Bearer T`` or ``X-MomentFinder-Token: T``."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get(TOKEN_HEADER) or None


def check_token(request: Request, expected: str) -> None:
    """401 without a token, 403 with a wrong one (compared in constant time)."""
    given = presented_token(request)
    if given is None:
        raise HTTPException(
            401,
            "this needs the server's write token (Authorization: Bearer TOKEN)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(403, "wrong write token")


def inside(path: str, folder: str) -> bool:
    """Whether the resolved ``path`` is ``folder`` or below it (both already resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def confine(path: str, roots: Iterable[str]) -> str:
    """``path`` resolved (symlinks and ``..`` followed) when it lies inside one of ``roots``, else a
    403: a name that climbs out of a root, or a symlink that points out of it, is refused."""
    resolved = os.path.realpath(path)
    for root in roots:
        if inside(resolved, os.path.realpath(root)):
            return resolved
    raise HTTPException(403, "that path is outside the library's folders")
