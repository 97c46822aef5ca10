"""A PostgreSQL server with pgvector for the tests: one per test session, a fresh database per test.

``$MOMENTFINDER_TEST_PG_URL`` (a superuser's or a CREATEDB role's URL, on a server with pgvector)
is used when set; otherwise a throwaway server is started from the ``pgserver`` package (PostgreSQL
16 + pgvector, in the dev extra) in a temporary directory and stopped and deleted at the end.
There is no skipping: a server that cannot be had is an error, so CI never passes without running
the PostgreSQL tests.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from urllib.parse import urlsplit, urlunsplit

ENV_URL = "MOMENTFINDER_TEST_PG_URL"


class ServerUnavailable(RuntimeError):
    pass


def with_database(url: str, dbname: str) -> str:
    """``url`` pointing at database ``dbname`` (query parameters such as ``host=`` kept)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


class PgTestServer:
    """A server the tests may create databases on (``admin_url`` connects to a maintenance one)."""

    def __init__(self, admin_url: str, handle=None, data_dir: str | None = None):
        self.admin_url = admin_url
        self._handle = handle
        self._data_dir = data_dir
        self._names = (f"mf_test_{os.getpid()}_{i}" for i in itertools.count())
        self._made: list[str] = []

    def execute(self, sql: str, dbname: str | None = None) -> list[tuple]:
        import psycopg

        url = self.admin_url if dbname is None else with_database(self.admin_url, dbname)
        with psycopg.connect(url, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def new_database(self) -> str:
        """A new empty database; its URL."""
        name = next(self._names)
        self.execute(f'DROP DATABASE IF EXISTS "{name}"')
        self.execute(f'CREATE DATABASE "{name}"')
        self._made.append(name)
        return with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._made:
            self._made.remove(name)

    def stop(self) -> None:
        for name in list(self._made):
            try:
                self.drop_database(with_database(self.admin_url, name))
            except Exception:  # the server is going away anyway
                pass
        if self._handle is not None:
            self._handle.cleanup()
            self._handle = None
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)


def start() -> PgTestServer:
    """The session's server (see module docstring); raises :class:`ServerUnavailable` with the reason."""
    url = os.environ.get(ENV_URL)
    if url:
        server = PgTestServer(url)
        try:
            server.execute("SELECT 1")
        except Exception as err:
            raise ServerUnavailable(f"${ENV_URL} is set but its server cannot be used: {err}") from err
        return server
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset (containers)
            import pgserver
    except ImportError as err:
        raise ServerUnavailable(
            f"cannot start a PostgreSQL server for the tests: pgserver is not installed ({err}); "
            f"pip install -e '.[dev]', or set ${ENV_URL}"
        ) from err
    data_dir = tempfile.mkdtemp(prefix="mf-pg-")  # short: the server's socket lives in it
    try:
        handle = pgserver.get_server(data_dir, cleanup_mode="stop")
    except Exception as err:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise ServerUnavailable(f"pgserver could not start PostgreSQL in {data_dir}: {err}") from err
    server = PgTestServer(handle.get_uri(), handle, data_dir)
    # A throwaway server: durability is not what these tests measure (a killed *client* is).
    server.execute("ALTER SYSTEM SET fsync = off")
    server.execute("ALTER SYSTEM SET synchronous_commit = off")
    server.execute("ALTER SYSTEM SET full_page_writes = off")
    server.execute("SELECT pg_reload_conf()")
    return server
