"""A throw-away PostgreSQL server for tests: Debian's ``postgresql`` (installed when missing), on loopback.

Without a server that can be installed (or psycopg) the tests skip, except under ``CI=true``, where they fail.
``initdb`` and ``pg_ctl`` run in a temporary folder as the unprivileged ``postgres`` user (the server
refuses to run as root), listening on a free 127.0.0.1 port with trust authentication; the server
and its folder are removed afterwards. Each test gets its own database from :meth:`PostgresServer.new_database`.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

USER = "naswot"  # the database superuser the tests connect as


def _find_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _install_postgresql() -> None:
    """``apt-get install postgresql`` (as root, the way CI and developers' machines run the tests)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"], check=True, env=env, capture_output=True)


def server_bin_dir() -> Path:
    """Where ``initdb``/``pg_ctl`` are, installing Debian's package when missing; skips when that is impossible."""
    found = _find_bin_dir()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        _install_postgresql()
        found = _find_bin_dir()
    if found is None:
        unavailable("PostgreSQL server binaries not found (install Debian's postgresql package, or run the tests as root)")
    return found


def unavailable(message: str) -> None:
    """Skip a PostgreSQL test, except under ``CI=true``, where it fails: the set-up must have provided PostgreSQL."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One running server; ``dsn(db)`` gives a psycopg connection string."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="naswot-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count()
        self._as_user = self._unprivileged_prefix()

    def _unprivileged_prefix(self) -> list[str]:
        """Run the server as ``postgres`` when we are root; as ourselves otherwise."""
        if os.geteuid() != 0:
            return []
        account = pwd.getpwnam("postgres")
        os.chown(self.root, account.pw_uid, account.pw_gid)
        return ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, cwd=self.root)

    def start(self) -> None:
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", USER, "-A", "trust", "--no-sync", "-E", "UTF8")
        self.resume()

    def resume(self) -> None:
        """Start the server on its existing data folder (after :meth:`halt`), on the same port."""
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c full_page_writes=off"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-o", options, "-w", "start")

    def halt(self) -> None:
        """``pg_ctl stop -m immediate``: every connection dropped at once, as in a crash; the data folder is kept."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        try:
            self.halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its connection string."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole test session."""
    try:
        import psycopg  # noqa: F401 - the tests' client
    except ImportError:
        unavailable("psycopg not installed (pip install -e '.[test]')")
    server = PostgresServer(server_bin_dir())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(postgres_server) -> str:
    """A fresh database on the test session's server."""
    return postgres_server.new_database()
