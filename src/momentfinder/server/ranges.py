"""Checking an HTTP ``Range`` header (RFC 9110 §14) before the file response serves it, so a bad one
is answered with a JSON error: 400 when it is not a byte range, 416 when it lies past the end."""

from __future__ import annotations

import re

from fastapi import HTTPException

MAX_RANGES = 16
_SPEC = re.compile(r"([0-9]{1,19})-([0-9]{0,19})|-([0-9]{1,19})")


def check_range(header: str, size: int) -> None:
    """Raise the HTTP error ``header`` deserves for a file of ``size`` bytes; return when it is a
    satisfiable ``bytes=`` range set, every range starting inside the file (the file response then serves it)."""
    unit, sep, specs = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise HTTPException(400, f"malformed Range header {header[:80]!r}: expected bytes=START-END")
    parts = [p.strip() for p in specs.split(",")]
    if len(parts) > MAX_RANGES:
        raise HTTPException(400, f"too many ranges in the Range header (at most {MAX_RANGES})")
    satisfiable = True  # every range, as the file response requires
    for part in parts:
        match = _SPEC.fullmatch(part)
        if match is None:
            raise HTTPException(400, f"malformed Range header {header[:80]!r}: expected bytes=START-END")
        first, last, suffix = match.groups()
        if suffix is not None:
            satisfiable &= int(suffix) > 0 and size > 0
            continue
        if last and int(last) < int(first):
            raise HTTPException(400, f"malformed Range header {header[:80]!r}: the end is before the start")
        satisfiable &= int(first) < size
    if not satisfiable:
        raise HTTPException(
            416,
            f"the range lies past the end of the file ({size} bytes)",
            headers={"Content-Range": f"bytes */{size}"},
        )
