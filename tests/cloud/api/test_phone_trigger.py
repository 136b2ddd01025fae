"""A clip triggered from a phone, end to end through the real Mosquitto.

API -> trigger_clip command on the device's topic (device ACLs) -> a test
device acknowledges (accepted, then done with its clip id) -> the API records
the acks from the broker -> the command's progress is queryable -> the clip
arrives (as the ingest stores it after verifying the object) and is on the
timeline. Starting and ending the session go out as retained desired state.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.app import create_app
from cloud.api.control.acks import AckRecorder
from cloud.api.control.broker import BrokerConnection
from cloud.api.control.mqtt import MqttDeviceControl
from cloud.api.runtime import ApiRuntime
from cloud.config import CloudConfig, CloudMqttConfig
from cloud.models import Role, Session
from protocol.codec import decode_as, encode
from protocol.control import Command, DesiredState
from protocol.device import AckStatus, CommandAck
from protocol.ids import new_id
from protocol.topics import Channel, Topic, shared_subscription, topic_filter
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.api.world import World, auth, build_world, make_clip
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import TestClient as DeviceClient
from tests.mqtt_helpers import connect

PREFIX = "sideline"


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db, f"rt{secrets.token_hex(3)}")  # retained topics differ per test


@pytest.fixture
def broker_runtime(
    db: Database, runtime: ApiRuntime, mosquitto: MosquittoBroker
) -> Iterator[ApiRuntime]:
    config = CloudMqttConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        username=MQTT_ADMIN[0],
        password=MQTT_ADMIN[1],  # type: ignore[arg-type]
    )
    recorder = AckRecorder(db, prefix=PREFIX)
    acks = shared_subscription("api-acks", topic_filter(PREFIX, Channel.ACKS))
    broker = BrokerConnection(config, subscriptions=[acks], on_message=recorder)
    broker.start()
    runtime.control = MqttDeviceControl(db, broker, prefix=PREFIX)
    yield runtime
    broker.stop()


@pytest.fixture
def device(world: World, mosquitto: MosquittoBroker) -> Iterator[DeviceClient]:
    """The box: its own MQTT user, held to its own topics by the broker's ACL."""
    mosquitto.reload(users={**mosquitto.users, world.device_id: "device-pw"})
    client = _connect_when_loaded(mosquitto, world.device_id)
    for channel in (Channel.COMMANDS, Channel.DESIRED):
        assert not client.subscribe(
            str(Topic(PREFIX, world.slug, world.device_id, channel))
        ).is_failure
    yield client
    client.close()


def _connect_when_loaded(broker: MosquittoBroker, device_id: str) -> DeviceClient:
    deadline = time.monotonic() + 10
    while True:  # the broker re-reads its password file on SIGHUP, shortly after
        try:
            return connect(broker, device_id, "device-pw", client_id=device_id)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait(what: str, probe: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := probe():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _received(device: DeviceClient, channel: Channel, model: Any) -> list[Any]:
    return [
        decode_as(model, m.payload)
        for m in device.messages
        if m.topic.endswith(f"/{channel.value}")
    ]


def test_a_phone_trigger_round_trip_through_the_broker(
    db: Database, world: World, broker_runtime: ApiRuntime, device: DeviceClient
) -> None:
    with TestClient(create_app(CloudConfig(), runtime=broker_runtime)) as client:
        coach = auth(world.tokens[Role.COACH])
        sessions = f"/api/v1/orgs/{world.slug}/sessions"
        client.post(f"{sessions}/{world.session.id}/end", headers=coach)
        session = client.post(
            sessions,
            headers=coach,
            json={"title": "Evening", "devices": [{"device_id": world.device_id}]},
        ).json()
        started = client.post(f"{sessions}/{session['id']}/start", headers=coach).json()
        assert started["devices"][0]["published"] is True

        # The box is told which session is live (retained, newest revision wins).
        desired = _wait(
            "the desired state",
            lambda: [
                d for d in _received(device, Channel.DESIRED, DesiredState) if d.session is not None
            ],
        )
        assert str(desired[-1].session.session_id) == session["id"]

        # The phone asks for a clip: 202 and a command id.
        accepted = client.post(
            f"{sessions}/{session['id']}/clips", headers=coach, json={"note": "what a goal"}
        )
        assert accepted.status_code == 202
        command_id = accepted.json()["command_ids"][0]
        command_url = f"/api/v1/orgs/{world.slug}/commands/{command_id}"
        assert client.get(command_url, headers=coach).json()["progress"] == "sent"

        command = _wait("the command", lambda: _received(device, Channel.COMMANDS, Command))[-1]
        assert str(command.command_id) == command_id and command.command.note == "what a goal"

        acks = str(Topic(PREFIX, world.slug, world.device_id, Channel.ACKS))

        def ack(status: AckStatus, **fields: Any) -> None:
            message = CommandAck(
                org=world.slug,
                device_id=world.device_id,
                command_id=command.command_id,
                status=status,
                **fields,
            )
            device.publish(acks, encode(message))

        def progress() -> str:
            return str(client.get(command_url, headers=coach).json()["progress"])

        ack(AckStatus.ACCEPTED)
        _wait("acknowledged", lambda: progress() == "acknowledged")
        clip_id = new_id()
        ack(AckStatus.DONE, result={"clip_ids": [str(clip_id)]})
        _wait("done", lambda: progress() == "done")

        # The clip reaches the cloud (the ingest stores it once the object checks out).
        make_clip(
            world.org,
            Session.get_by_id(session["id"]),
            world.device_id,
            id=clip_id,
            trigger_source="cloud",
            command=command_id,
        )
        final = client.get(command_url, headers=coach).json()
        assert final["progress"] == "clip_uploaded" and final["clip_ids"] == [str(clip_id)]
        timeline = client.get(f"{sessions}/{session['id']}/timeline", headers=coach).json()
        clips = [item for item in timeline["data"] if item["type"] == "clip"]
        assert [item["id"] for item in clips] == [str(clip_id)]
        assert clips[0]["data"]["command_id"] == command_id

        # Ending the session clears the box's active session.
        client.post(f"{sessions}/{session['id']}/end", headers=coach)
        _wait(
            "the cleared state",
            lambda: (
                (states := _received(device, Channel.DESIRED, DesiredState))
                and states[-1].session is None
                and states[-1].revision > desired[-1].revision
            ),
        )
