"""PostgreSQL for tests and benchmarks: a fresh database on a server.

The server is the one at 127.0.0.1:5432 when it answers; otherwise a throwaway
cluster is created with Debian's ``initdb``/``pg_ctl`` in a temporary folder, so
a newcomer's machine needs nothing set up by hand.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sideline.services.process import ManagedProcess, ServiceError, free_port, port_is_open

__all__ = ["DEFAULT_ADMIN_URL", "PostgresCluster", "TemporaryDatabase", "server_answers"]

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def server_answers(admin_url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(admin_url, connect_timeout=2).close()
    except psycopg2.OperationalError:
        return False
    return True


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class TemporaryDatabase:
    """``CREATE DATABASE`` with a random name on enter; ``DROP`` on exit."""

    def __init__(self, admin_url: str, *, prefix: str = "sideline_test") -> None:
        self.admin_url = admin_url
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self.url = _with_database(admin_url, self.name)

    def _execute(self, sql: str) -> None:
        import psycopg2

        conn = psycopg2.connect(self.admin_url, connect_timeout=5)
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def create(self) -> str:
        self._execute(f'CREATE DATABASE "{self.name}"')
        return self.url

    def drop(self) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def __enter__(self) -> str:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.drop()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise ServiceError(
            f"PostgreSQL's {name} is not installed and no server answers at 127.0.0.1:5432; "
            "run `make setup` (as root it runs apt-get install postgresql)"
        )
    return path


class PostgresCluster:
    """A throwaway cluster in ``data_dir``, listening on loopback only, trust auth."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.socket_dir = data_dir / "socket"
        self._process: ManagedProcess | None = None
        # initdb refuses to run as root; use the postgres account when we are root.
        self._run_as = "postgres" if os.geteuid() == 0 else None

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if self._run_as is None:
            return argv
        return ["runuser", "-u", self._run_as, "--", *argv]

    def start(self, timeout_s: float = 30.0) -> None:
        cluster = self.data_dir / "cluster"
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            owner = pwd.getpwnam(self._run_as)
            for path in (self.data_dir, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        result = subprocess.run(
            self._as_owner(
                [_pg_bin("initdb"), "-D", str(cluster), "-U", "postgres", "-A", "trust"]
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ServiceError(f"initdb failed: {result.stderr.strip() or result.stdout.strip()}")
        self._process = ManagedProcess(
            "postgres",
            self._as_owner(
                [
                    _pg_bin("postgres"),
                    "-D",
                    str(cluster),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.socket_dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",  # throwaway: durability is not under test here
                ]
            ),
            log_path=self.data_dir / "postgres.log",
        )
        self._process.start()
        self._process.wait_until(
            lambda: port_is_open("127.0.0.1", self.port) and server_answers(self.admin_url),
            timeout_s=timeout_s,
            what="connections",
        )

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
