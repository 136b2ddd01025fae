"""The MQTT link against a real Mosquitto: status, session, reconnects, refused logins."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from agent.sync.config import MqttConfig
from agent.sync.link import MqttLink
from agent.sync.link_types import DeliveryOutcome, LinkListener, PublishRequest
from protocol import Channel, DeviceState, Status, Topic, decode_as, encode
from sideline.services.mosquitto import MosquittoBroker
from tests.agent.sync.conftest import Device, register_device
from tests.fixtures.services import MQTT_ADMIN, BrokerFactory
from tests.mqtt_helpers import TestClient, connect
from tests.waiting import wait_until


class Inbox(LinkListener):
    def __init__(self) -> None:
        self.messages: list[tuple[Channel, bytes]] = []
        self.sessions: list[bool] = []

    def on_connected(self, session_present: bool) -> None:
        self.sessions.append(session_present)

    def on_message(self, channel: Channel, payload: bytes) -> None:
        self.messages.append((channel, payload))


def make_link(broker: MosquittoBroker, device: Device, **overrides: object) -> MqttLink:
    settings: dict[str, object] = {
        "port": broker.port,
        "username": device.id,
        "password": device.password,
        "reconnect_min_s": 0.2,
        "reconnect_max_s": 1.0,
        "keepalive_s": 5,
    }
    settings.update(overrides)

    def status(state: DeviceState) -> bytes:
        return encode(Status(org=device.org, device_id=device.id, state=state))

    return MqttLink(
        MqttConfig.model_validate(settings),
        org=device.org,
        device_id=device.id,
        online_status=lambda: status(DeviceState.ONLINE),
        offline_status=status(DeviceState.OFFLINE),
        max_in_flight=8,
    )


@contextmanager
def running(link: MqttLink) -> Iterator[MqttLink]:
    thread = threading.Thread(target=link.run, daemon=True)
    thread.start()
    try:
        yield link
    finally:
        link.stop(drain_s=2)
        thread.join(10)
        link.close()


def topic(device: Device, channel: Channel) -> str:
    return str(Topic("sideline", device.org, device.id, channel))


def statuses(watcher: TestClient) -> list[DeviceState]:
    return [
        decode_as(Status, m.payload).state for m in watcher.messages if m.topic.endswith("/status")
    ]


def test_online_status_is_retained_and_a_clean_stop_says_offline(
    mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    admin.subscribe(topic(device, Channel.STATUS))
    with running(make_link(mosquitto, device)) as link:
        wait_until(lambda: link.connected, what="the link to connect")
        wait_until(lambda: DeviceState.ONLINE in statuses(admin), what="online status")
    wait_until(lambda: statuses(admin)[-1:] == [DeviceState.OFFLINE], what="offline status")
    late = connect(mosquitto, *MQTT_ADMIN)  # a newcomer sees the retained state
    try:
        late.subscribe(topic(device, Channel.STATUS))
        wait_until(lambda: late.messages, what="the retained status")
        assert late.messages[0].retain and statuses(late) == [DeviceState.OFFLINE]
    finally:
        late.close()


def test_publishes_complete_through_puback(mosquitto: MosquittoBroker, device: Device) -> None:
    outcomes: list[DeliveryOutcome] = []
    with running(make_link(mosquitto, device)) as link:
        wait_until(lambda: link.connected, what="the link to connect")
        for _ in range(5):
            link.publish(
                PublishRequest(Channel.ACKS, b"{}", on_outcome=lambda o, _d: outcomes.append(o))
            )
        wait_until(lambda: len(outcomes) == 5, what="five PUBACKs")
    assert set(outcomes) == {DeliveryOutcome.DELIVERED}


def test_a_refused_login_is_named_and_retried_without_ending_the_link(
    mosquitto: MosquittoBroker, device: Device, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with running(make_link(mosquitto, device, password="wrong")) as link:
        wait_until(lambda: link.stats.last_error, what="the refusal")
        assert "check mqtt.username and mqtt.password" in str(link.stats.last_error)
        assert not link.connected and link.alive(5)
    assert "refused the connection" in caplog.text


def test_after_a_broker_restart_the_link_reconnects_and_subscribes_again(
    broker_factory: BrokerFactory, device: Device
) -> None:
    broker = broker_factory()
    register_device(broker, device.id, device.password)
    inbox = Inbox()
    link = make_link(broker, device)
    link.add_listener(inbox)
    with running(link):
        wait_until(lambda: link.connected, what="the link to connect")
        broker.kill()
        wait_until(lambda: not link.connected, what="the link to notice")
        broker.start()
        wait_until(lambda: link.stats.connects >= 2 and link.subscribed, what="a resubscription")
        cloud = connect(broker, *MQTT_ADMIN)
        try:
            cloud.publish(topic(device, Channel.COMMANDS), b'{"hello": 1}')
        finally:
            cloud.close()
        wait_until(lambda: inbox.messages, what="a command after the restart")
    assert inbox.messages == [(Channel.COMMANDS, b'{"hello": 1}')]
    assert len(inbox.sessions) >= 2


def test_messages_for_other_devices_never_reach_listeners(
    mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    inbox = Inbox()
    link = make_link(mosquitto, device)
    link.add_listener(inbox)
    with running(link):
        wait_until(lambda: link.subscribed, what="the link to subscribe")
        admin.publish(str(Topic("sideline", device.org, "someone-else", Channel.COMMANDS)), b"x")
        admin.publish(topic(device, Channel.RECEIPTS), b"mine")
        wait_until(lambda: inbox.messages, what="our own message")
    assert inbox.messages == [(Channel.RECEIPTS, b"mine")]
