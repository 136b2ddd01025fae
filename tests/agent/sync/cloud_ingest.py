"""The cloud side of the agent's sync tests: the real ingest on PostgreSQL.

- :func:`register_box` registers a device the way ``sideline cloud device add``
  does (:func:`cloud.devices.registry.create_device`, the S3 identity from
  :func:`cloud.devices.registry.s3_identity`).
- :class:`IngestProcess` runs ``sideline cloud ingest`` as the product starts it:
  its own process, a TOML config, SIGTERM to stop; its final counters are read
  from its log.
- :class:`CloudRecords` reads what the cloud's tables hold for one device, with
  its own connection (never through the models' shared database proxy).

Used by the sync tests, the fault test and ``bench/drain.py``.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg2

from cloud.db import open_database
from cloud.devices.registry import create_device, s3_identity
from cloud.migrations import migrate
from cloud.models import Clip, DeadLetter, DetectionEventRecord, Log, Organisation
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.fixtures.services import MQTT_ADMIN, S3_BUCKET
from tests.procs import child_env, sideline_argv

__all__ = [
    "CloudRecords",
    "IngestProcess",
    "IngestTotals",
    "RegisteredBox",
    "prepare_cloud_database",
    "register_box",
]

ORG = "org1"

_TABLES: dict[str, str] = {
    "logs": str(Log._meta.table_name),
    "events": str(DetectionEventRecord._meta.table_name),
    "clips": str(Clip._meta.table_name),
}


def prepare_cloud_database(url: str, org: str = ORG) -> None:
    """Migrate a fresh database and create the organisation the test devices belong to."""
    database = open_database(url)
    try:
        migrate(database)
        Organisation.get_or_create(slug=org, defaults={"name": org.title()})
    finally:
        database.close()


@dataclass(frozen=True)
class RegisteredBox:
    org: str
    id: str
    password: str
    s3_key: str | None = None
    s3_secret: str | None = None


def register_box(
    database_url: str,
    *,
    device_id: str | None = None,
    seaweed: SeaweedS3 | None = None,
    org: str = ORG,
) -> RegisteredBox:
    """A device in the cloud's registry (and on ``seaweed``, with a key for its prefix).

    The broker is the caller's to set up with the returned password: the test
    brokers take plain users rather than ``sideline cloud broker-files``."""
    device_id = device_id or f"dev-{secrets.token_hex(4)}"
    database = open_database(database_url)
    try:
        credentials = create_device(org, f"test box {device_id}", device_id=device_id)
    finally:
        database.close()
    s3_key = s3_secret = None
    if seaweed is not None:
        seaweed.add_identity(s3_identity(credentials, S3_BUCKET))
        s3_key, s3_secret = credentials.s3_access_key_id, credentials.s3_secret_access_key
    return RegisteredBox(org, device_id, credentials.mqtt_password, s3_key, s3_secret)


# -- the ingest ------------------------------------------------------------------------


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def _toml(tables: Mapping[str, Mapping[str, object]], top: Mapping[str, object]) -> str:
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for name, values in tables.items():
        lines.append(f"\n[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class IngestTotals:
    """The worker's own final counters (its log's last ``stopped:`` line)."""

    messages: int
    inserted: int
    duplicate: int
    refused: int
    receipts: int

    @classmethod
    def from_log(cls, text: str) -> IngestTotals | None:
        found = re.findall(
            r"stopped: (\d+) messages in \d+ transactions; records: (\d+) new, (\d+) already "
            r"stored, (\d+) refused; (\d+) receipts",
            text,
        )
        if not found:
            return None
        return cls(*(int(n) for n in found[-1]))


class IngestProcess:
    """``sideline cloud ingest`` in a child process, with its config and log in ``work_dir``.

    ``group``: its own ``$share`` group, so that no other consumer on a shared
    broker splits its messages. ``worker_id``: a persistent session, which the
    broker keeps (with its backlog) across the worker's and its own restarts.
    """

    def __init__(
        self,
        work_dir: Path,
        broker: MosquittoBroker,
        database_url: str,
        *,
        seaweed: SeaweedS3 | None = None,
        worker_id: str | None = None,
        group: str | None = None,
        ingest: Mapping[str, object] | None = None,
        verify: Mapping[str, object] | None = None,
        log_level: str = "INFO",
    ) -> None:
        name = worker_id or f"ingest-{secrets.token_hex(3)}"
        self.worker_id = worker_id
        self.config_path = work_dir / f"{name}.toml"
        self.log_path = work_dir / f"{name}.log"
        tables: dict[str, Mapping[str, object]] = {
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "username": MQTT_ADMIN[0],
                "password": MQTT_ADMIN[1],
                "shared_group": group or name,
            },
            "ingest": {"stats_interval_s": 3600, **(ingest or {})},
            # Tests stop S3 for seconds, not hours: re-check a clip soon after.
            "ingest.verify": {"first_delay_s": 0.5, "max_delay_s": 2.0, **(verify or {})},
        }
        if seaweed is not None:
            tables["s3"] = {
                "endpoint_url": seaweed.endpoint_url,
                "bucket": S3_BUCKET,
                "access_key_id": seaweed.admin.access_key,
                "secret_access_key": seaweed.admin.secret_key,
            }
        work_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(
            _toml(tables, {"database_url": database_url, "log_level": log_level})
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout_s: float = 60.0) -> None:
        """Start it and wait until it is subscribed (its log says ``running``)."""
        argv = sideline_argv("cloud", "ingest", "--config", str(self.config_path))
        if self.worker_id:
            argv += ["--worker-id", self.worker_id]
        start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as output:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                argv, stdout=output, stderr=subprocess.STDOUT, env=child_env()
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if "running with" in self.log()[start_at:]:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"the ingest did not start:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout_s: float = 60.0) -> IngestTotals:
        """SIGTERM, as systemd stops it; its final counters."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the ingest did not stop:\n{self.log()[-3000:]}") from None
        totals = IngestTotals.from_log(self.log())
        assert code == 0 and totals is not None, f"ingest exit {code}:\n{self.log()[-3000:]}"
        return totals

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- what the cloud holds ------------------------------------------------------------


class CloudRecords:
    """What the cloud database holds for one device: ids per kind, clips, dead letters."""

    def __init__(self, database_url: str, device_id: str) -> None:
        self.database_url = database_url
        self.device_id = device_id

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(self.database_url)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, (self.device_id, *args))
                return list(cursor.fetchall())
        finally:
            connection.close()

    def ids(self, kind: str) -> set[UUID]:
        rows = self._query(f'SELECT id FROM "{_TABLES[kind]}" WHERE device_id = %s')
        return {UUID(str(row[0])) for row in rows}

    def count(self, kind: str) -> int:
        """Rows, not distinct ids: compared with :meth:`ids` it shows any duplicate."""
        return int(
            self._query(f'SELECT count(*) FROM "{_TABLES[kind]}" WHERE device_id = %s')[0][0]
        )

    def clips(self) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT id, status, object_key, size_bytes, sha256, failure_reason, ended_at FROM "
            f'"{_TABLES["clips"]}" WHERE device_id = %s'
        )
        keys = ("id", "status", "object_key", "size_bytes", "sha256", "failure_reason", "ended_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def dead_letters(self) -> list[tuple[str, str]]:
        """(code, reason) of each message of this device the ingest refused."""
        return [
            (str(code), str(reason))
            for code, reason in self._query(
                f'SELECT code, reason FROM "{DeadLetter._meta.table_name}" WHERE device_id = %s'
            )
        ]
