"""The test broker is a real Mosquitto with our generated password and ACL files."""

from __future__ import annotations

import base64
import hashlib

import pytest

import protocol as p
from core.credentials import hash_password
from sideline.services.mosquitto import MosquittoBroker
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import connect


def test_password_hash_is_mosquittos_pbkdf2_format() -> None:
    salt = b"0123456789ab"
    hashed = hash_password("s3cret", salt=salt)
    _, alg, iterations, salt_b64, digest_b64 = hashed.split("$")
    assert (alg, iterations) == ("7", "101")
    assert base64.b64decode(salt_b64) == salt
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101, 64)
    assert base64.b64decode(digest_b64) == expected


def test_protocol_message_round_trip_through_the_broker(mosquitto: MosquittoBroker) -> None:
    topic = str(p.Topic("sideline", "org1", "dev1", p.Channel.LOGS))
    subscriber = connect(mosquitto, *MQTT_ADMIN)
    publisher = connect(mosquitto, *MQTT_ADMIN)
    try:
        assert not subscriber.subscribe(topic).is_failure
        batch = p.LogBatch(
            org="org1",
            device_id="dev1",
            records=[
                p.LogRecord(id=p.new_id(), occurred_at=p.utc_now(), source="marker", type="marker")
            ],
        )
        publisher.publish(topic, p.encode(batch), qos=1)
        received = subscriber.wait_for(1)
        assert [m.topic for m in received] == [topic]
        assert p.decode(p.parse_topic(received[0].topic).channel, received[0].payload) == batch
    finally:
        subscriber.close()
        publisher.close()


def test_wrong_password_is_refused(mosquitto: MosquittoBroker) -> None:
    with pytest.raises(ConnectionRefusedError, match=r"Not authorized|Bad user name or password"):
        connect(mosquitto, MQTT_ADMIN[0], "wrong")


def test_acl_keeps_a_device_in_its_own_topics(mosquitto: MosquittoBroker) -> None:
    users = {MQTT_ADMIN[0]: MQTT_ADMIN[1], "dev-a": "pw-a", "dev-b": "pw-b"}
    mosquitto.reload(users=users)
    watcher = connect(mosquitto, *MQTT_ADMIN)
    device_a = connect(mosquitto, "dev-a", "pw-a", client_id="dev-a")
    try:
        watcher.subscribe("sideline/v1/+/+/logs")
        own = "sideline/v1/org1/dev-a/logs"
        other = "sideline/v1/org1/dev-b/logs"
        device_a.publish(other, b"intruder", qos=1)
        device_a.publish(own, b"mine", qos=1)
        received = watcher.wait_for(1)
        assert [(m.topic, m.payload) for m in received] == [(own, b"mine")]
        # Mosquitto grants the SUBSCRIBE but never delivers what the ACL denies.
        device_a.subscribe("sideline/v1/org1/dev-b/commands")
        device_a.subscribe("sideline/v1/org1/dev-a/commands")
        watcher.publish("sideline/v1/org1/dev-b/commands", b"for b", qos=1)
        watcher.publish("sideline/v1/org1/dev-a/commands", b"for a", qos=1)
        got = device_a.wait_for(2, timeout=1.0)
        assert [(m.topic, m.payload) for m in got] == [
            ("sideline/v1/org1/dev-a/commands", b"for a")
        ]
    finally:
        watcher.close()
        device_a.close()
