"""A clip triggered from a phone, end to end through the real broker, ingest and store.

API -> trigger_clip command on the device's topic (device ACLs) -> a test device
acknowledges (accepted), uploads the clip's MP4 to SeaweedFS, publishes the
clip record and acknowledges done -> the real ingest records the acks, verifies
the object and stores the clip -> the command is ``clip_uploaded`` and the clip
is on the session's timeline. Starting and ending the session go out as
retained desired state.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database

import protocol as p
from cloud.api.app import create_app
from cloud.api.runtime import ApiRuntime
from cloud.config import CloudConfig, CloudMqttConfig
from cloud.devices.control import DeviceControl
from cloud.models import Role
from cloud.mqtt import CloudMqttClient
from sideline.services.mosquitto import MosquittoBroker
from sideline.services.seaweed import SeaweedS3
from tests.cloud.api.world import World, auth, build_world
from tests.cloud.ingest.helpers import cloud_config, running_ingest, seaweed_object_store
from tests.fixtures.services import MQTT_ADMIN, S3_BUCKET
from tests.mqtt_helpers import TestClient as DeviceClient
from tests.mqtt_helpers import connect
from tests.waiting import wait_until

PREFIX = "sideline"


@pytest.fixture
def world(db: Database) -> World:
    return build_world(db, f"rt{secrets.token_hex(3)}")  # retained topics differ per test


@pytest.fixture
def broker_runtime(runtime: ApiRuntime, mosquitto: MosquittoBroker) -> Iterator[ApiRuntime]:
    """The test runtime with the real control service on a real broker connection."""
    config = CloudMqttConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        username=MQTT_ADMIN[0],
        password=MQTT_ADMIN[1],
    )
    client = CloudMqttClient(config, client_id=f"test-api-{secrets.token_hex(3)}")
    client.connect()
    runtime.control = DeviceControl(client, prefix=PREFIX)
    yield runtime
    client.close()


@pytest.fixture
def device(world: World, mosquitto: MosquittoBroker) -> Iterator[DeviceClient]:
    """The box: its own MQTT user, held to its own topics by the broker's ACL."""
    mosquitto.reload(users={**mosquitto.users, world.device_id: "device-pw"})
    deadline = time.monotonic() + 10
    while True:  # the broker re-reads its password file on SIGHUP, shortly after
        try:
            client = connect(mosquitto, world.device_id, "device-pw", client_id=world.device_id)
            break
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the device was not let in"
            time.sleep(0.1)
    for channel in (p.Channel.COMMANDS, p.Channel.DESIRED, p.Channel.RECEIPTS):
        assert not client.subscribe(
            str(p.Topic(PREFIX, world.slug, world.device_id, channel))
        ).is_failure
    yield client
    client.close()


def _received(device: DeviceClient, channel: p.Channel, model: Any) -> list[Any]:
    return [
        p.decode_as(model, m.payload)
        for m in device.messages
        if m.topic.endswith(f"/{channel.value}")
    ]


def test_a_phone_trigger_round_trip_through_broker_ingest_and_store(
    db: Database,
    api_db_url: str,
    world: World,
    broker_runtime: ApiRuntime,
    device: DeviceClient,
    mosquitto: MosquittoBroker,
    seaweed: SeaweedS3,
) -> None:
    ingest = running_ingest(
        cloud_config(mosquitto, api_db_url), object_store=seaweed_object_store(seaweed)
    )
    with ingest, TestClient(create_app(CloudConfig(), runtime=broker_runtime)) as client:
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
        desired = wait_until(
            lambda: [d for d in _received(device, p.Channel.DESIRED, p.DesiredState) if d.session],
            what="the desired state",
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
        command = wait_until(
            lambda: _received(device, p.Channel.COMMANDS, p.Command), what="the command"
        )[-1]
        assert str(command.command_id) == command_id and command.command.note == "what a goal"

        def up(channel: p.Channel, message: p.Message) -> None:
            device.publish(
                str(p.Topic(PREFIX, world.slug, world.device_id, channel)), p.encode(message)
            )

        def progress() -> str:
            return str(client.get(command_url, headers=coach).json()["progress"])

        up(
            p.Channel.ACKS,
            p.CommandAck(
                org=world.slug,
                device_id=world.device_id,
                command_id=command.command_id,
                status=p.AckStatus.ACCEPTED,
            ),
        )
        wait_until(lambda: progress() == "acknowledged", what="acknowledged")

        # The box cuts the clip, uploads it, then sends its record and says it is done.
        video = b"\x00\x00\x00\x18ftypmp42" + secrets.token_bytes(4096)
        clip_id = p.new_id()
        key = f"{world.slug}/{world.device_id}/{clip_id}.mp4"
        seaweed.client().put_object(Bucket=S3_BUCKET, Key=key, Body=video)
        at = command.command.at or p.utc_now()
        record = p.ClipRecord(
            id=clip_id,
            session_id=session["id"],
            camera_id="main",
            started_at=at - timedelta(seconds=20),
            ended_at=at + timedelta(seconds=10),
            triggers=[
                p.Trigger(
                    source=p.TriggerSource.CLOUD,
                    at=at,
                    command_id=command.command_id,
                    note="what a goal",
                )
            ],
            object_key=key,
            size_bytes=len(video),
            sha256=hashlib.sha256(video).hexdigest(),
            duration_ms=30_000,
            width=1280,
            height=720,
        )
        up(
            p.Channel.CLIPS,
            p.ClipBatch(org=world.slug, device_id=world.device_id, records=[record]),
        )
        up(
            p.Channel.ACKS,
            p.CommandAck(
                org=world.slug,
                device_id=world.device_id,
                command_id=command.command_id,
                status=p.AckStatus.DONE,
                result={"clip_ids": [str(clip_id)]},
            ),
        )
        wait_until(lambda: progress() == "clip_uploaded", what="the clip to be verified")
        final = client.get(command_url, headers=coach).json()
        assert final["clip_ids"] == [str(clip_id)] and final["state"] == "done"
        timeline = client.get(f"{sessions}/{session['id']}/timeline", headers=coach).json()
        clips = [item for item in timeline["data"] if item["type"] == "clip"]
        assert [item["id"] for item in clips] == [str(clip_id)]
        assert clips[0]["source"] == "cloud" and clips[0]["data"]["playback_url"]

        # Ending the session clears the box's active session.
        client.post(f"{sessions}/{session['id']}/end", headers=coach)
        wait_until(
            lambda: (
                (states := _received(device, p.Channel.DESIRED, p.DesiredState))
                and states[-1].session is None
                and states[-1].revision > desired[-1].revision
            ),
            what="the cleared state",
        )
