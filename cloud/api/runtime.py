"""What a running API holds: the database and the edges it talks to.

Built from the config by :func:`build_runtime` (``sideline cloud api``), or
handed to :func:`cloud.api.app.create_app` directly by tests and benchmarks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from peewee import Database

from cloud.api.control.base import DeviceControl
from cloud.api.export.sinks import EmbeddingsSink
from cloud.api.storage import ClipUrlSigner
from cloud.config import ApiConfig, CloudConfig

__all__ = ["ApiRuntime", "build_runtime"]

log = logging.getLogger(__name__)


@dataclass
class ApiRuntime:
    database: Database
    control: DeviceControl
    signer: ClipUrlSigner
    sink: EmbeddingsSink | None
    settings: ApiConfig = field(default_factory=ApiConfig)
    _closers: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:  # closing one part must not keep the others open
                log.exception("closing %r failed", closer)
        self._closers.clear()
        self.database.close()


def build_runtime(config: CloudConfig) -> ApiRuntime:
    """Open the database (migrating SQLite), connect to the broker, build the signer and sink."""
    from cloud.api.control.acks import AckRecorder
    from cloud.api.control.broker import BrokerConnection, BrokerUnavailable
    from cloud.api.control.mqtt import MqttDeviceControl
    from cloud.api.export.sinks import build_sink
    from cloud.api.storage import signer_from_config
    from cloud.migrations import open_current_database
    from protocol.topics import Channel, shared_subscription, topic_filter

    database = open_current_database(config.database_url)
    control_config = config.api.control
    subscriptions: list[str] = []
    recorder = None
    if control_config.record_acks:
        recorder = AckRecorder(database, prefix=config.mqtt.prefix)
        subscriptions.append(
            shared_subscription("api-acks", topic_filter(config.mqtt.prefix, Channel.ACKS))
        )
    broker = BrokerConnection(
        config.mqtt, role="api", subscriptions=subscriptions, on_message=recorder
    )
    try:
        broker.start(timeout_s=5.0)
    except BrokerUnavailable as exc:
        # Reads work without the broker; commands fail (and say so) until it answers.
        log.error("%s; the API starts anyway and keeps trying", exc)
    sink = build_sink(config.api.embeddings)
    runtime = ApiRuntime(
        database=database,
        control=MqttDeviceControl(
            database,
            broker,
            prefix=config.mqtt.prefix,
            publish_wait_s=control_config.publish_wait_s,
        ),
        signer=signer_from_config(config.s3),
        sink=sink,
        settings=config.api,
    )
    runtime._closers.append(broker.stop)
    if sink is not None and hasattr(sink, "close"):
        runtime._closers.append(sink.close)
    return runtime
