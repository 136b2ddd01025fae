"""Desired state and commands through the real broker, acks back through the ingest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from peewee import Database

import protocol as p
from cloud.config import CloudMqttConfig
from cloud.devices.control import DeviceControl
from cloud.models import (
    Command,
    CommandState,
    DesiredStateRecord,
    FormTemplate,
    FormVersion,
    SessionDevice,
    utc_now,
)
from cloud.mqtt import CloudMqttClient, PublishError
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.factories import make_device, make_org, make_session
from tests.cloud.ingest.helpers import cloud_config, running_ingest
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import connect
from tests.waiting import wait_until


@pytest.fixture
def cloud_client(mosquitto: MosquittoBroker) -> Iterator[CloudMqttClient]:
    client = CloudMqttClient(
        CloudMqttConfig(
            host=mosquitto.host, port=mosquitto.port, username=MQTT_ADMIN[0], password=MQTT_ADMIN[1]
        ),
        client_id=f"test-api-{p.new_id().hex[:8]}",
    )
    client.connect()
    yield client
    client.close()


def _topic(org: str, device: str, channel: p.Channel) -> str:
    return str(p.Topic("sideline", org, device, channel))


def test_desired_state_is_retained_at_its_newest_revision(
    db: Database, mosquitto: MosquittoBroker, cloud_client: CloudMqttClient
) -> None:
    org = make_org()
    device = make_device(org)
    control = DeviceControl(cloud_client)
    control.update_desired_state(device.id, recording=True)
    row = control.update_desired_state(
        device.id, detection=p.DetectionToggles(enabled=False, classes=["person"])
    )
    assert (row.revision, row.published_revision) == (2, 2)
    box = connect(mosquitto, *MQTT_ADMIN)  # a box connecting later gets the retained copy
    try:
        box.subscribe(_topic(org.slug, device.id, p.Channel.DESIRED))
        [message] = box.wait_for(1)
        desired = p.decode_as(p.DesiredState, message.payload)
        assert message.retain
        assert (desired.revision, desired.recording, desired.detection.enabled) == (2, True, False)
        assert desired.detection.classes == ["person"]
    finally:
        box.close()


def test_starting_and_ending_a_session_sets_and_clears_it_on_its_devices(
    db: Database, cloud_client: CloudMqttClient
) -> None:
    org = make_org()
    first, second = make_device(org), make_device(org)
    template = FormTemplate.create(org=org, name="Drills")
    version = FormVersion.create(template=template, version=1, fields=[{"name": "player"}])
    session = make_session(
        org,
        devices=[first],
        form_template=template,
        form_version=version,
        started_at=utc_now(),
    )
    SessionDevice.create(session=session, device=second, camera_id="goal")
    control = DeviceControl(cloud_client)
    rows = control.set_active_session(session)
    assert {row.device_id for row in rows} == {first.id, second.id}
    active = DesiredStateRecord.get_by_id(first.id).state["session"]
    assert active["session_id"] == str(session.id)
    assert (active["form_version"], active["form_fields"]) == (1, [{"name": "player"}])
    other = make_session(org, devices=[second], started_at=utc_now())
    control.set_active_session(other)  # the second box moved on to another session
    control.clear_active_session(session)
    assert DesiredStateRecord.get_by_id(first.id).state["session"] is None
    assert DesiredStateRecord.get_by_id(second.id).state["session"]["session_id"] == str(other.id)


def test_a_command_round_trip_through_broker_device_and_ingest(
    db: Database, db_url: str, mosquitto: MosquittoBroker, cloud_client: CloudMqttClient
) -> None:
    org = make_org()
    device = make_device(org)
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        box.subscribe(_topic(org.slug, device.id, p.Channel.COMMANDS))
        with running_ingest(cloud_config(mosquitto, db_url)):
            command = DeviceControl(cloud_client).send_command(
                device.id, p.TriggerClip(pre_s=15, post_s=5), ttl_s=30
            )
            assert command.state is CommandState.SENT
            [message] = box.wait_for(1)
            received = p.decode_as(p.Command, message.payload)
            assert received.command_id == command.id
            assert received.expires_at - received.issued_at == timedelta(seconds=30)
            assert isinstance(received.command, p.TriggerClip) and received.command.pre_s == 15
            ack = p.CommandAck(
                org=org.slug,
                device_id=device.id,
                command_id=command.id,
                status=p.AckStatus.DONE,
                result={"clip_ids": [str(p.new_id())]},
            )
            box.publish(_topic(org.slug, device.id, p.Channel.ACKS), p.encode(ack))
            wait_until(
                lambda: Command.get_by_id(command.id).state is CommandState.DONE, what="done"
            )
        assert Command.get_by_id(command.id).result == ack.result
    finally:
        box.close()


class BrokenPublisher:
    def publish(self, topic: str, payload: bytes, **kwargs: object) -> None:
        raise PublishError("the broker did not take it in 5 s")


def test_a_broker_that_does_not_answer_is_recorded_and_retried(
    db: Database, cloud_client: CloudMqttClient
) -> None:
    device = make_device(make_org())
    broken = DeviceControl(BrokenPublisher())
    command = broken.send_command(device.id, p.TriggerClip())
    assert (command.state, command.reason) == (
        CommandState.FAILED,
        "the broker did not take it in 5 s",
    )
    row = broken.update_desired_state(device.id, recording=False)
    assert (row.revision, row.published_revision) == (1, None)
    assert row.publish_error is not None
    assert DeviceControl(cloud_client).republish_pending() == 1
    assert DesiredStateRecord.get_by_id(device.id).published_revision == 1
