"""TEST-ONLY stand-in for ``cloud/ingest``: commit records, then send receipts.

It does the least the real ingest must do for the agent's guarantees to be
tested: take ``logs``/``events``/``clips`` batches from a shared subscription,
``INSERT OR IGNORE`` them into a SQLite database keyed on the record id, commit,
and only then publish a :class:`protocol.Receipt` on the device's ``receipts``
channel. A clip is refused unless its object is already in S3 with the right
size and SHA-256 metadata, which is how the tests catch a record published
before its file.

When the real ingest lands, tests that use :func:`start_ingest` switch to it by
changing that one function.

Run as a process (bench, fault test)::

    python -m tests.standin_ingest --port P --user U --password W --db FILE [--delay 0.05]
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol import (
    Channel,
    ClipBatch,
    ProtocolError,
    Receipt,
    Rejection,
    Topic,
    decode,
    parse_topic,
    shared_subscription,
    topic_filter,
)

__all__ = ["IngestLedger", "StandInIngest"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id BLOB PRIMARY KEY, kind TEXT NOT NULL, device TEXT NOT NULL, body TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deliveries (kind TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class IngestSettings:
    host: str
    port: int
    username: str
    password: str
    db_path: Path
    prefix: str = "sideline"
    client_id: str = "standin-ingest"
    group: str = "ingest"  # the $share group: members split the messages
    delay_s: float = 0.0  # per message, to build a consumer backlog
    s3: Any = None  # a boto3 client with read access, to check clips
    bucket: str | None = None


class StandInIngest:
    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self.messages = 0
        self._db = sqlite3.connect(settings.db_path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=wal")
        self._db.execute("PRAGMA synchronous=full")
        self._db.executescript(_SCHEMA)
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.client_id, protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set(settings.username, settings.password)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(0.2, 2.0)
        self.connected = threading.Event()

    def start(self) -> None:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 3600
        self._client.connect_async(
            self.settings.host, self.settings.port, clean_start=False, properties=properties
        )
        self._client.loop_start()

    def stop(self) -> None:
        # End the session too: a persistent session left behind would stay a member of
        # the shared subscription and keep receiving messages nobody reads.
        properties = Properties(PacketTypes.DISCONNECT)
        properties.SessionExpiryInterval = 0
        self._client.disconnect(properties=properties)
        self._client.loop_stop()
        self._db.close()

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any
    ) -> None:
        if rc.is_failure:
            return
        subscriptions = [
            (
                shared_subscription(
                    self.settings.group, topic_filter(self.settings.prefix, channel)
                ),
                1,
            )
            for channel in (Channel.LOGS, Channel.EVENTS, Channel.CLIPS)
        ]
        client.subscribe(subscriptions)
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        topic = parse_topic(message.topic, prefix=self.settings.prefix)
        try:
            batch: Any = decode(topic.channel, message.payload)
        except ProtocolError as exc:
            print(f"standin-ingest: dead letter on {message.topic}: {exc}", flush=True)
            return
        if self.settings.delay_s:
            time.sleep(self.settings.delay_s)
        kind = topic.channel.value
        rejected, unchecked = (
            self._check_clips(batch) if isinstance(batch, ClipBatch) else ({}, set())
        )
        # A clip that could not be checked (S3 unreachable) is neither stored nor
        # rejected: the receipt leaves it out, and the device sends it again.
        stored = [r for r in batch.records if r.id not in rejected and r.id not in unchecked]
        rows = [
            (r.id.bytes, kind, topic.device, r.model_dump_json() if kind == "clips" else None)
            for r in stored
        ]
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?)", rows)
        self._db.execute(
            "INSERT INTO deliveries VALUES (?, ?) "
            "ON CONFLICT (kind) DO UPDATE SET count = count + excluded.count",
            (kind, len(rows)),
        )
        self._db.execute("COMMIT")
        self.messages += 1
        receipt = Receipt.model_construct(  # our own values: no need to validate them again
            org=topic.org,
            device_id=topic.device,
            kind=kind,
            for_message_id=batch.message_id,
            stored=[r.id for r in stored],
            rejected=[Rejection(id=i, reason=why) for i, why in rejected.items()],
        )
        target = Topic(self.settings.prefix, topic.org, topic.device, Channel.RECEIPTS)
        client.publish(str(target), receipt.model_dump_json(exclude_none=True), qos=1)

    def _check_clips(self, batch: ClipBatch) -> tuple[dict[UUID, str], set[UUID]]:
        """Refused (the object is missing or differs) and unchecked (S3 did not answer)."""
        if self.settings.s3 is None:
            return {}, set()
        refused: dict[UUID, str] = {}
        unchecked: set[UUID] = set()
        for record in batch.records:
            try:
                head = self.settings.s3.head_object(
                    Bucket=self.settings.bucket, Key=record.object_key
                )
            except Exception as exc:  # noqa: BLE001
                response = getattr(exc, "response", {}) or {}
                status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if status == 404:
                    refused[record.id] = f"object {record.object_key} is not in the bucket"
                else:
                    unchecked.add(record.id)
                continue
            if (
                head["ContentLength"] != record.size_bytes
                or head["Metadata"].get("sha256") != record.sha256
            ):
                refused[record.id] = f"object {record.object_key} does not match the record"
        return refused, unchecked


class IngestLedger:
    """Read what an ingest database holds (from the test process)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        connection = sqlite3.connect(self.db_path, timeout=30)
        try:
            return list(connection.execute(sql, args))
        finally:
            connection.close()

    def ids(self, kind: str) -> set[UUID]:
        return {
            UUID(bytes=row[0]) for row in self._query("SELECT id FROM records WHERE kind = ?", kind)
        }

    def count(self, kind: str) -> int:
        return int(self._query("SELECT count(*) FROM records WHERE kind = ?", kind)[0][0])

    def deliveries(self, kind: str) -> int:
        """Records received, re-deliveries included."""
        found = self._query("SELECT count FROM deliveries WHERE kind = ?", kind)
        return int(found[0][0]) if found else 0

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [
            json.loads(row[0])
            for row in self._query("SELECT body FROM records WHERE kind = ?", kind)
        ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--client-id", default="standin-ingest")
    parser.add_argument("--s3-endpoint")
    parser.add_argument("--s3-key")
    parser.add_argument("--s3-secret")
    parser.add_argument("--bucket")
    args = parser.parse_args(argv)
    s3 = None
    if args.s3_endpoint:
        import boto3
        from botocore.config import Config

        s3 = boto3.client(
            "s3",
            endpoint_url=args.s3_endpoint,
            aws_access_key_id=args.s3_key,
            aws_secret_access_key=args.s3_secret,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )
    ingest = StandInIngest(
        IngestSettings(
            args.host,
            args.port,
            args.user,
            args.password,
            args.db,
            client_id=args.client_id,
            delay_s=args.delay,
            s3=s3,
            bucket=args.bucket,
        )
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    ingest.start()
    print("standin-ingest: started", flush=True)
    done.wait()
    ingest.stop()


if __name__ == "__main__":
    main()
