"""The ingest against the real broker and database: stored once, receipted, acked."""

from __future__ import annotations

from peewee import Database

import protocol as p
from cloud.models import DeadLetter, Log
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import cloud_config, log_batch, running_ingest
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import connect
from tests.waiting import wait_until


def test_batches_are_stored_once_and_receipted(
    db: Database, db_url: str, mosquitto: MosquittoBroker
) -> None:
    org = make_org()
    device = make_device(org)
    batches = [log_batch(org.slug, device.id, 50) for _ in range(4)]
    receipts_topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.RECEIPTS))
    logs_topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        box.subscribe(receipts_topic)
        with running_ingest(cloud_config(mosquitto, db_url)):
            for batch in batches + batches:  # everything twice: a re-send
                box.publish(logs_topic, p.encode(batch))
            received = box.wait_for(8, timeout=20)
            wait_until(lambda: Log.select().count() == 200, what="200 logs")
        receipts = [p.decode_as(p.Receipt, m.payload) for m in received]
        assert len(receipts) == 8
        by_message: dict[object, set[object]] = {}
        for receipt in receipts:
            assert receipt.rejected == []
            by_message.setdefault(receipt.for_message_id, set()).update(receipt.stored)
        assert by_message == {b.message_id: {r.id for r in b.records} for b in batches}
        assert Log.select().count() == 200
        assert DeadLetter.select().count() == 0
    finally:
        box.close()


def test_two_workers_in_one_group_split_the_messages_without_duplicates(
    db: Database, db_url: str, mosquitto: MosquittoBroker
) -> None:
    org = make_org()
    device = make_device(org)
    batches = [log_batch(org.slug, device.id, 10) for _ in range(40)]
    logs_topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    config = cloud_config(mosquitto, db_url)
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        with running_ingest(config) as one, running_ingest(config) as two:
            for batch in batches:
                box.publish(logs_topic, p.encode(batch))
            wait_until(lambda: Log.select().count() == 400, what="400 logs")
            wait_until(lambda: one.stats.snapshot().messages + two.stats.snapshot().messages == 40)
        first, second = one.stats.snapshot(), two.stats.snapshot()
        assert first.messages > 0 and second.messages > 0  # both took a share
        assert first.records_inserted + second.records_inserted == 400
        assert first.records_duplicate + second.records_duplicate == 0
    finally:
        box.close()


def test_a_bad_payload_is_dead_lettered_and_the_next_one_stored(
    db: Database, db_url: str, mosquitto: MosquittoBroker
) -> None:
    org = make_org()
    device = make_device(org)
    logs_topic = str(p.Topic("sideline", org.slug, device.id, p.Channel.LOGS))
    good = log_batch(org.slug, device.id, 5)
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        with running_ingest(cloud_config(mosquitto, db_url)) as service:
            box.publish(logs_topic, b"{not json")
            box.publish(logs_topic, p.encode(good))
            wait_until(lambda: Log.select().count() == 5, what="the good batch")
        letter = DeadLetter.get()
        assert (letter.code, letter.topic, bytes(letter.payload)) == (
            "not_json",
            logs_topic,
            b"{not json",
        )
        assert service.stats.snapshot().dead_letters == {"not_json": 1}
    finally:
        box.close()
