"""``sideline cloud ingest``: one worker process, wired and owned here.

Threads: paho's network thread (receives and decodes), the writer
(:class:`IngestWorker`, the caller's thread), the clip verifier, the tag
requester (a box's tag asks the session's other boxes for its clips) and the
housekeeper (expired commands, unpublished desired states, counters in the log).
Start several processes with the same ``mqtt.shared_group`` to split the load.
"""

from __future__ import annotations

import gc
import logging
import queue
import threading
import zlib
from collections.abc import Callable

import paho.mqtt.client as mqtt
from peewee import Database, DatabaseError

from cloud.config import CloudConfig
from cloud.db import database_proxy
from cloud.devices.commands import expire_commands
from cloud.devices.control import DeviceControl
from cloud.ingest import metrics
from cloud.ingest.acks import OrderedAcks
from cloud.ingest.decoding import Decoded, Inbound, Problem, decode_inbound
from cloud.ingest.encoding import RowEncoder
from cloud.ingest.health import fleet_summary
from cloud.ingest.retention import prune_dead_letters
from cloud.ingest.stats import IngestStats
from cloud.ingest.store import IngestStore
from cloud.ingest.tags import TagRequester
from cloud.ingest.verify import ClipVerifier
from cloud.ingest.worker import IngestWorker
from cloud.migrations import available_migrations, open_current_database
from cloud.models import utc_now
from cloud.mqtt import CloudMqttClient, Subscription, cloud_client_id
from cloud.object_store import ObjectStore, S3ObjectStore
from cloud.observability.health import BrokerCheck, DatabaseCheck, Readiness
from cloud.observability.http import OpsServer
from cloud.observability.metrics import instrument_database
from protocol import Channel, shared_subscription, topic_filter

__all__ = ["IngestService", "ingest_subscriptions", "relax_garbage_collection"]

log = logging.getLogger(__name__)

# Objects allocated between two runs of the cyclic garbage collector (CPython: 700).
GC_THRESHOLD = 50_000


def relax_garbage_collection() -> None:
    """For a process that runs an ingest worker (``sideline cloud ingest``), not a library.

    Decoding one batch allocates thousands of objects (records, their dicts, UUIDs,
    datetimes) that reference counting frees once the batch is written; they form no
    cycles. At CPython's default threshold the cyclic collector ran several times per
    message and rescanned every decoded batch waiting for a writer: about a third of
    the worker's CPU time while draining a box (``bench/drain.py``: 0.9-1.0 s of
    collections during a 4-s drain of 100,000 records, 0.02 s at this threshold).
    """
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)


_SHARED_CHANNELS = (Channel.LOGS, Channel.CLIPS, Channel.EVENTS, Channel.HEARTBEAT, Channel.ACKS)


def ingest_subscriptions(prefix: str, group: str) -> list[Subscription]:
    """Up channels through ``$share`` (split among workers); status directly, because
    a shared subscription never receives retained messages."""
    shared = [
        Subscription(shared_subscription(group, topic_filter(prefix, channel)))
        for channel in _SHARED_CHANNELS
    ]
    return [*shared, Subscription(topic_filter(prefix, Channel.STATUS))]


class _Link:
    """Acks (in arrival order, through :class:`OrderedAcks`) and publishes through the
    worker's MQTT connection."""

    def __init__(self, client: CloudMqttClient, on_skip: Callable[[], None]) -> None:
        self.client = client
        self.ordered = OrderedAcks(self._send_ack, on_skip)

    def _send_ack(self, inbound: Inbound) -> bool:
        if inbound.qos == 0:
            return True
        if inbound.generation != self.client.generation:
            return False  # a packet id of a dropped connection means nothing on this one
        self.client.ack(inbound.mid, inbound.qos)
        return True

    def ack(self, inbound: Inbound) -> bool:
        return self.ordered.ack(inbound)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> None:
        self.client.publish(topic, payload, qos=qos)


class IngestService:
    def __init__(
        self,
        config: CloudConfig,
        *,
        object_store: ObjectStore | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.config = config
        self.stats = IngestStats()
        self.ready = threading.Event()
        self._object_store = object_store
        persistent = worker_id or config.ingest.worker_id
        self.client_id = cloud_client_id(config.mqtt, "ingest", persistent)
        self._persistent = persistent is not None
        self._inboxes: list[queue.Queue[Decoded]] = [
            queue.Queue() for _ in range(config.ingest.writers)
        ]
        self._received = 0  # arrival order; only paho's network thread counts
        self._failure: BaseException | None = None
        self._encoder: RowEncoder | None = None
        self._client: CloudMqttClient | None = None
        self._threads: list[threading.Thread] = []
        self.ops: OpsServer | None = None

    def connection_generation(self) -> int:
        """How many times this worker has connected to the broker (1: never dropped)."""
        return self._client.generation if self._client is not None else 0

    def alive(self) -> tuple[bool, str]:
        """Liveness: every thread of the worker runs (a dead writer stops the worker)."""
        if self._failure is not None:
            return False, f"a writer failed: {self._failure!r}"
        dead = [thread.name for thread in self._threads if not thread.is_alive()]
        if dead:
            return False, f"threads not running: {', '.join(dead)}"
        return True, ""

    def _start_ops(self, database: Database, client: CloudMqttClient) -> None:
        """/healthz, /readyz and /metrics on ``ingest.http_port``, if set."""
        port = self.config.ingest.http_port
        metrics.watch_worker(
            queued=lambda: sum(inbox.qsize() for inbox in self._inboxes),
            connected=lambda: client.is_connected,
            connections=lambda: client.generation,
        )
        if port is None:
            return
        health = self.config.health
        readiness = Readiness(
            [
                DatabaseCheck(
                    database,
                    expected_version=len(available_migrations()),
                    timeout_s=health.timeout_s,
                ),
                BrokerCheck(
                    client,
                    where=f"{self.config.mqtt.host}:{self.config.mqtt.port}",
                    extra=lambda: client.last_refusal or "",
                ),
            ],
            timeout_s=health.timeout_s,
            cache_s=health.cache_s,
        )
        host = self.config.ingest.http_host
        try:
            self.ops = OpsServer(
                host,
                port,
                readiness=readiness,
                liveness=self.alive,
                name=f"ingest {self.client_id}",
            )
        except OSError as exc:
            raise OSError(
                f"the ingest's operations endpoint cannot listen on {host}:{port}: "
                f"{exc.strerror or exc}; free the port or set ingest.http_port (one per worker)"
            ) from exc
        self.ops.start()

    def run(self, stop: threading.Event) -> None:
        database = instrument_database(open_current_database(self.config.database_url))
        prefix = self.config.mqtt.prefix
        client = CloudMqttClient(
            self.config.mqtt,
            client_id=self.client_id,
            clean_start=not self._persistent,
            session_expiry_s=self.config.ingest.session_expiry_s if self._persistent else 0,
            receive_maximum=self.config.ingest.receive_maximum,
            manual_ack=True,
            subscriptions=ingest_subscriptions(prefix, self.config.mqtt.shared_group),
            on_message=self._receive,
        )
        self._client = client
        self._encoder = RowEncoder.for_database(database)
        link = _Link(client, self._ack_skipped)
        workers = [
            IngestWorker(
                IngestStore(database, self.config.ingest, worker=self.client_id),
                inbox,
                link,
                self.config.ingest,
                prefix=prefix,
                stats=self.stats,
            )
            for inbox in self._inboxes
        ]
        verifier = ClipVerifier(
            database,
            self._object_store or S3ObjectStore(self.config.s3),
            self.config.ingest.verify,
            workers[0].send_receipt,
        )
        control = DeviceControl(client, prefix=prefix)
        tags = TagRequester(database, control, command_ttl_s=self.config.api.control.command_ttl_s)
        for worker in workers:
            worker.clips_stored = verifier.wake
            worker.tags_stored = tags.wake
        threads = [
            threading.Thread(
                target=self._guarded, args=(worker.run, stop), name=f"writer-{i}", daemon=True
            )
            for i, worker in enumerate(workers)
        ]
        threads += [
            threading.Thread(target=verifier.run, args=(stop,), name="clip-verifier", daemon=True),
            threading.Thread(target=tags.run, args=(stop,), name="tag-requests", daemon=True),
            threading.Thread(
                target=self._housekeep, args=(stop, control), name="housekeeping", daemon=True
            ),
        ]
        self._start_ops(database, client)
        try:
            client.connect()
            if not client.wait_subscribed(10.0):
                log.warning("no SUBACK yet for %s; messages may arrive late", self.client_id)
            for thread in threads:
                thread.start()
            self._threads = threads
            self.ready.set()
            log.info("ingest worker %s running with %d writers", self.client_id, len(workers))
            stop.wait()
        finally:
            stop.set()
            verifier.wake.set()
            tags.wake.set()
            for thread in threads:
                if thread.is_alive():
                    thread.join(timeout=5)
            client.close()
            if self.ops is not None:
                self.ops.stop()
            database.close()
            log.info(
                "ingest worker %s stopped: %s", self.client_id, self.stats.snapshot().describe()
            )
        if self._failure is not None:
            raise RuntimeError(f"ingest writer failed: {self._failure!r}") from self._failure

    def _fleet_metrics(self) -> None:
        summary = fleet_summary(utc_now(), stale_after_s=self.config.ingest.stale_heartbeat_s)
        metrics.set_fleet(
            summary.devices,
            backlog=summary.backlog_records,
            oldest_s=summary.oldest_unsynced_s,
            top=summary.top_backlogs,
        )

    def _ack_skipped(self) -> None:
        self.stats.add(acks_skipped=1)
        metrics.ACKS_SKIPPED.inc()

    def _guarded(self, run: Callable[[threading.Event], None], stop: threading.Event) -> None:
        """A writer that dies takes the whole worker down (un-acknowledged messages are
        re-delivered to the others or after a restart) instead of stalling it silently."""
        try:
            run(stop)
        except BaseException as exc:
            log.exception("ingest writer failed; stopping this worker")
            self._failure = exc
            stop.set()

    def _receive(self, message: mqtt.MQTTMessage, generation: int) -> None:
        inbound = Inbound(
            topic=message.topic,
            payload=bytes(message.payload),
            mid=message.mid,
            qos=message.qos,
            retain=bool(message.retain),
            generation=generation,
            received_at=utc_now(),
            sequence=self._received,
            dup=bool(message.dup),
        )
        self._received += 1
        try:
            decoded = decode_inbound(inbound, self.config.mqtt.prefix, self._encoder)
        except Exception as exc:  # a bug here must not kill paho's thread (and all intake)
            log.exception("could not decode a message on %s", inbound.topic)
            decoded = Decoded(
                inbound, problem=Problem("internal_error", f"decoding failed: {exc!r}")
            )
        self._inboxes[self._writer_for(decoded)].put(decoded)

    def _writer_for(self, decoded: Decoded) -> int:
        """Records go round the writers; a device's status messages always to the same
        one, because applying them out of order would leave the wrong state."""
        count = len(self._inboxes)
        if count == 1:
            return 0
        if decoded.topic is not None and decoded.topic.channel is Channel.STATUS:
            return zlib.crc32(decoded.topic.device.encode()) % count
        return decoded.inbound.sequence % count

    def _housekeep(self, stop: threading.Event, control: DeviceControl) -> None:
        interval = self.config.ingest.stats_interval_s
        ingest = self.config.ingest
        tasks: list[tuple[str, Callable[[], object]]] = [
            ("expire commands", lambda: expire_commands(utc_now())),
            ("republish desired states", control.republish_pending),
        ]
        hourly: list[tuple[str, Callable[[], object]]] = [
            (
                "prune dead letters",
                lambda: prune_dead_letters(
                    utc_now(),
                    max_age_s=ingest.dead_letter_retention_s,
                    max_rows=ingest.dead_letter_max_rows,
                ),
            ),
        ]
        waited = 0.0
        since_hourly = float("inf")  # once at start, then every hour
        since_fleet = float("inf")
        while not stop.wait(5.0):
            since_hourly += 5.0
            since_fleet += 5.0
            due = tasks + (hourly if since_hourly >= 3600 else [])
            if since_fleet >= ingest.fleet_metrics_interval_s:
                since_fleet = 0.0
                due = [*due, ("fleet metrics", self._fleet_metrics)]
            if since_hourly >= 3600:
                since_hourly = 0.0
            for name, task in due:
                try:
                    task()
                except Exception as exc:  # keep housekeeping alive
                    log.warning("housekeeping: %s failed: %s", name, exc)
            waited += 5.0
            if waited >= interval:
                waited = 0.0
                log.info("ingest %s: %s", self.client_id, self.stats.snapshot().describe())
        try:
            database_proxy.close()  # this thread's connection
        except DatabaseError:
            pass
