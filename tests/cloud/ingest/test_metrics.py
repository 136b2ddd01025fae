"""The ingest's /metrics move with real traffic through the real broker and database."""

from __future__ import annotations

from peewee import Database

import protocol as p
from cloud.models import Log
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import cloud_config, log_batch, running_ingest
from tests.fixtures.services import MQTT_ADMIN
from tests.metrics_helpers import Samples, scrape
from tests.mqtt_helpers import connect
from tests.waiting import wait_until


def test_records_receipts_lag_and_dead_letters_are_counted(
    db: Database, db_url: str, mosquitto: MosquittoBroker
) -> None:
    org = make_org()
    device = make_device(org)
    batch = log_batch(org.slug, device.id, 7)
    logs_topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        with running_ingest(cloud_config(mosquitto, db_url, http_port=0)) as service:
            assert service.ops is not None
            url = f"http://127.0.0.1:{service.ops.port}/metrics"
            before = scrape(url)
            box.publish(logs_topic, p.encode(batch))
            wait_until(lambda: service.stats.snapshot().receipts_sent == 1, what="the receipt")
            box.publish(logs_topic, p.encode(batch))  # a re-send: already stored
            box.publish(logs_topic, b"{not json")
            wait_until(lambda: service.stats.snapshot().messages == 3, what="three messages")
            after = scrape(url)
        assert Log.select().count() == 7
    finally:
        box.close()

    def moved(name: str, **labels: str) -> float:
        return after.total(name, **labels) - before.total(name, **labels)

    assert moved("sideline_ingest_messages_total", channel="logs") == 3
    assert moved("sideline_ingest_records_total", channel="logs", result="inserted") == 7
    assert moved("sideline_ingest_records_total", channel="logs", result="duplicate") == 7
    assert moved("sideline_ingest_receipts_total") == 2
    assert moved("sideline_ingest_dead_letters_total", code="not_json") == 1
    assert moved("sideline_ingest_batch_records_count", channel="logs") == 2
    assert moved("sideline_ingest_batch_records_sum", channel="logs") == 14
    assert moved("sideline_ingest_lag_seconds_count", channel="logs") == 2
    assert moved("sideline_ingest_receipt_latency_seconds_count", channel="logs") == 2
    assert moved("sideline_ingest_commit_duration_seconds_count") >= 2
    assert after.get("sideline_ingest_mqtt_connected") == 1
    assert after.get("sideline_ingest_queued_messages") == 0
    assert_conventions(after)


def assert_conventions(samples: Samples) -> None:
    """Counters end in _total; durations are in seconds; everything is ours or the client's."""
    for name in samples.names():
        if name.startswith("sideline_"):
            assert not name.endswith("_ms"), name
            assert "milliseconds" not in name, name
    counters = [n for n in samples.names() if n.startswith("sideline_") and n.endswith("_total")]
    assert counters, "no counters"
