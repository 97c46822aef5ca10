"""What a server is started with: the library, the folders it may read, limits and access."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from ..pipeline.finder import FinderConfig
from ..pipeline.library import default_library

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class ServerConfig:
    """Everything :func:`~momentfinder.server.create_app` needs (all optional).

    ``roots``: the folders whose files may be indexed and served; none given, each indexed video's
    own folder is its root (a file that resolves outside it, through a symlink, is refused) and
    files may be indexed only inside folders the library already holds. Uploads always go to
    ``state_dir/uploads``, which is a root. ``allowed_hosts``: the ``Host`` names requests may
    carry (DNS rebinding protection; ``("*",)`` accepts any). ``cors_origins``: browser origins
    allowed to call the API from other pages (none: CORS off)."""

    db: str | None = None  # SQLite path or postgresql:// URL; None = default_library()
    finder: FinderConfig | None = None  # None: the library's own encoder and sampling
    adopt_encoder: bool = (
        True  # an existing library keeps its encoder (as `index add` without --visual-model)
    )
    roots: tuple[str, ...] = ()
    state_dir: str | None = None  # token, uploads, thumbnails; default: beside the library
    max_upload_bytes: int = 2 * 1024**3
    max_body_bytes: int = 64 * 1024  # any request other than an upload
    max_query_chars: int = 1000
    max_clip_seconds: float = 600.0  # longest moment exported as a clip
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    cors_origins: tuple[str, ...] = ()
    progress: bool = False

    @property
    def library(self) -> str:
        return self.db or default_library()

    def state_folder(self) -> str:
        """``state_dir``, else ``LIB.serve/`` beside a SQLite library, else a folder per PostgreSQL URL
        under ``$XDG_DATA_HOME/momentfinder``."""
        if self.state_dir:
            return os.path.abspath(os.path.expanduser(self.state_dir))
        lib = self.library
        if "://" in lib:
            base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
            digest = hashlib.sha256(lib.encode()).hexdigest()[:12]
            return os.path.join(base, "momentfinder", f"serve-{digest}")
        return os.path.abspath(os.path.expanduser(lib)) + ".serve"
