"""The ingest's log lines name the messages they are about (``--log-format json``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from peewee import Database

import protocol as p
from cloud.models import DeadLetter
from sideline.logs import JsonFormatter
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.factories import make_org
from tests.cloud.ingest.helpers import cloud_config, log_batch, running_ingest
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import connect
from tests.waiting import wait_until


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("cloud.ingest")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def test_a_dead_letter_is_logged_with_its_message_id(
    db: Database, db_url: str, mosquitto: MosquittoBroker, json_lines: io.StringIO
) -> None:
    org = make_org()
    stranger = log_batch(org.slug, "not-registered", 2)  # from a device nobody added
    topic = str(p.Topic("sideline", org.slug, "not-registered", p.Channel.LOGS))
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        with running_ingest(cloud_config(mosquitto, db_url)):
            box.publish(topic, p.encode(stranger))
            wait_until(lambda: DeadLetter.select().count() == 1, what="the dead letter")
            wait_until(lambda: "dead letter" in json_lines.getvalue(), what="its log line")
    finally:
        box.close()
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    (line,) = [line for line in lines if line["message"].startswith("dead letter")]
    assert line["code"] == "unknown_device"
    assert line["message_id"] == str(stranger.message_id)
    assert line["topic"] == topic
    assert line["level"] == "WARNING" and line["logger"] == "cloud.ingest.worker"
