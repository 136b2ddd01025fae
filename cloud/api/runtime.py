"""What a running API holds: the database and the edges it talks to.

Built from the config by :func:`build_runtime` (``sideline cloud api``), or
handed to :func:`cloud.api.app.create_app` directly by tests and benchmarks.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from peewee import Database

from cloud.api.access.sharing import ShareSigner
from cloud.api.export.sinks import EmbeddingsSink
from cloud.config import ApiConfig, CloudConfig
from cloud.devices.control import DeviceControl
from cloud.mqtt import CloudMqttClient, MqttUnavailable, cloud_client_id
from cloud.object_store import ClipUrlSigner
from cloud.observability.config import HealthConfig
from cloud.observability.health import BrokerCheck, Check, DatabaseCheck, Readiness
from cloud.observability.metrics import instrument_database, process_exited

__all__ = ["ApiRuntime", "BrokerConnector", "build_runtime"]

log = logging.getLogger(__name__)


@dataclass
class ApiRuntime:
    database: Database
    control: DeviceControl
    signer: ClipUrlSigner
    sink: EmbeddingsSink | None
    settings: ApiConfig = field(default_factory=ApiConfig)
    share_signer: ShareSigner | None = None  # made on first use (its key is in the database)
    broker: CloudMqttClient | None = None  # the control publisher's connection, for /readyz
    health: HealthConfig = field(default_factory=HealthConfig)
    _closers: list[Any] = field(default_factory=list)
    _readiness: Readiness | None = None

    def readiness(self) -> Readiness:
        """The checks behind ``/readyz``: the database, and the broker when there is one."""
        if self._readiness is None:
            from cloud.migrations import available_migrations

            checks: list[Check] = [
                DatabaseCheck(
                    self.database,
                    expected_version=len(available_migrations()),
                    timeout_s=self.health.timeout_s,
                )
            ]
            broker = self.broker
            if broker is not None:
                checks.append(
                    BrokerCheck(
                        broker,
                        where=f"{broker.config.host}:{broker.config.port}",
                        extra=lambda: broker.last_refusal or "",
                    )
                )
            self._readiness = Readiness(
                checks, timeout_s=self.health.timeout_s, cache_s=self.health.cache_s
            )
        return self._readiness

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing one part must not keep the others open
                log.exception("closing %r failed", closer)
        self._closers.clear()
        self.database.close()
        process_exited()


class BrokerConnector:
    """Connects the API's MQTT client, and keeps trying in the background if the
    broker is not there yet: reads work without it; commands and desired state
    fail (and say so) until it answers."""

    def __init__(self, client: CloudMqttClient, *, retry_s: float = 5.0) -> None:
        self.client = client
        self.retry_s = retry_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, first_timeout_s: float = 5.0) -> None:
        try:
            self.client.connect(first_timeout_s)
        except MqttUnavailable as exc:
            log.error("%s; the API starts anyway and keeps trying", exc)
            self._thread = threading.Thread(target=self.run, name="api-mqtt-connect", daemon=True)
            self._thread.start()

    def run(self) -> None:
        while not self._stop.wait(self.retry_s):
            try:
                self.client.connect(10.0)
            except MqttUnavailable as exc:
                log.warning("still no MQTT broker: %s", exc)
                continue
            log.info("connected to the MQTT broker")
            return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
        self.client.close()


def build_runtime(config: CloudConfig) -> ApiRuntime:
    """Open the database (migrating SQLite), connect to the broker, build the signer and sink."""
    from cloud.api.export.sinks import build_sink
    from cloud.migrations import open_current_database
    from cloud.object_store import signer_from_config

    database = instrument_database(open_current_database(config.database_url))
    client = CloudMqttClient(config.mqtt, client_id=cloud_client_id(config.mqtt, "api"))
    connector = BrokerConnector(client)
    connector.start()
    sink = build_sink(config.api.embeddings)
    runtime = ApiRuntime(
        database=database,
        control=DeviceControl(
            client,
            prefix=config.mqtt.prefix,
            publish_timeout_s=config.api.control.publish_wait_s,
            command_ttl_s=config.api.control.command_ttl_s,
        ),
        signer=signer_from_config(config.s3),
        sink=sink,
        settings=config.api,
        broker=client,
        health=config.health,
    )
    runtime._closers.append(connector.stop)
    if sink is not None and hasattr(sink, "close"):
        runtime._closers.append(sink.close)
    if config.api.scheduling.jobs:
        from cloud.api.jobs import SchedulingJobs, outbox_worker

        jobs = SchedulingJobs(database, settings=config.api.scheduling, control=runtime.control)
        jobs.start()
        runtime._closers.append(jobs.stop)
        sender = outbox_worker(database)
        sender.start()
        runtime._closers.append(sender.stop)
    return runtime
