"""Small helpers for tests that talk to a real broker with paho-mqtt."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from sideline.services.mosquitto import MosquittoBroker


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool


@dataclass
class TestClient:
    """A connected paho client that records what it receives."""

    __test__ = False

    client: mqtt.Client
    messages: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def subscribe(self, topic: str, qos: int = 1) -> ReasonCode:
        done = threading.Event()
        codes: list[ReasonCode] = []

        def on_subscribe(client, userdata, mid, reason_codes, properties):  # type: ignore[no-untyped-def]
            codes.extend(reason_codes)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe(topic, qos=qos)
        assert done.wait(5), f"no SUBACK for {topic}"
        return codes[0]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=5)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    broker: MosquittoBroker,
    username: str | None,
    password: str | None,
    *,
    client_id: str = "",
    protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv5,
) -> TestClient:
    """Connect and wait for CONNACK; raise if the broker refuses."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    if username is not None:
        client.username_pw_set(username, password)
    wrapper = TestClient(client)
    connected = threading.Event()
    result: list[ReasonCode] = []

    def on_connect(client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        result.append(reason_code)
        connected.set()

    def on_message(client, userdata, message):  # type: ignore[no-untyped-def]
        with wrapper._cond:
            wrapper.messages.append(Received(message.topic, message.payload, bool(message.retain)))
            wrapper._cond.notify_all()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    assert connected.wait(5), "no CONNACK"
    if result[0].is_failure:
        client.loop_stop()
        raise ConnectionRefusedError(str(result[0]))
    return wrapper
