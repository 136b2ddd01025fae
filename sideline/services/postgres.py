"""PostgreSQL for tests and benchmarks: a fresh database on a server.

The server is the one at 127.0.0.1:5432 when it answers; otherwise a throwaway
cluster is created with Debian's ``initdb``/``pg_ctl`` in a temporary folder, so
a newcomer's machine needs nothing set up by hand.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
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
        """Create the cluster (the first time) and start the server on :attr:`port`.

        After :meth:`stop` or :meth:`kill` it starts again on the same data and port,
        as a restarted server would."""
        cluster = self.data_dir / "cluster"
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            owner = pwd.getpwnam(self._run_as)
            for path in (self.data_dir, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        if not (cluster / "PG_VERSION").exists():
            self._initdb(cluster)
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

    def _initdb(self, cluster: Path) -> None:
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

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def stop(self) -> None:
        """A fast shutdown (``pg_ctl stop -m fast``): open sessions are disconnected,
        as when a server is restarted for an upgrade."""
        if self._process is None:
            return
        if self._process.is_running():
            subprocess.run(
                self._as_owner(
                    [_pg_bin("pg_ctl"), "stop", "-D", str(self.data_dir / "cluster"), "-m", "fast"]
                ),
                capture_output=True,
                timeout=60,
                check=False,
            )
        self._process.stop()

    def kill(self) -> None:
        """SIGKILL the postmaster, as a crash would (its backends exit when they notice).

        The postmaster's own pid (``postmaster.pid``): as root it runs under ``runuser``,
        which a SIGKILL would end without passing it on."""
        pid_file = self.data_dir / "cluster" / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            self._process.kill()

    def restart(self, timeout_s: float = 30.0) -> None:
        self.stop()
        self.start(timeout_s)
