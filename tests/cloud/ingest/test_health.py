"""Device status, heartbeats and command acks as the ingest records them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from peewee import Database

import protocol as p
from cloud.devices.commands import expire_commands
from cloud.ingest.config import IngestConfig
from cloud.ingest.store import IngestStore
from cloud.models import (
    Camera,
    Command,
    CommandAckRecord,
    CommandState,
    DeadLetter,
    Device,
    DeviceStatus,
    HeartbeatSample,
    utc_now,
)
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import decoded


@pytest.fixture
def store(db: Database) -> IngestStore:
    return IngestStore(db, IngestConfig(heartbeat_history_max=3), worker="test")


@pytest.fixture
def device(db: Database) -> Device:
    return make_device(make_org())


def _send(store: IngestStore, device: Device, channel: p.Channel, message: p.Message) -> None:
    store.write([decoded(device.org.slug, device.id, channel, message)])


def test_status_and_its_retained_redelivery(store: IngestStore, device: Device) -> None:
    since = utc_now() - timedelta(minutes=3)
    online = p.Status(
        org=device.org.slug,
        device_id=device.id,
        state=p.DeviceState.ONLINE,
        since=since,
        agent_version="0.1.0",
        cameras=[p.CameraSummary(camera_id="main", kind="picamera", width=1920, height=1080)],
    )
    _send(store, device, p.Channel.STATUS, online)
    _send(store, device, p.Channel.STATUS, online)  # retained: every worker start sees it again
    status = DeviceStatus.get_by_id(device.id)
    assert (status.state, status.since, status.agent_version) == ("online", since, "0.1.0")
    assert [(c.camera_id, c.width) for c in Camera.select()] == [("main", 1920)]


def test_the_last_will_takes_its_first_receive_time(store: IngestStore, device: Device) -> None:
    will = p.Status(org=device.org.slug, device_id=device.id, state=p.DeviceState.OFFLINE)
    _send(store, device, p.Channel.STATUS, will)
    first = DeviceStatus.get_by_id(device.id).since
    _send(store, device, p.Channel.STATUS, will)  # the retained will, again, later
    status = DeviceStatus.get_by_id(device.id)
    assert (status.state, status.since) == ("offline", first)


def _heartbeat(device: Device, sent_at: object, cpu: float) -> p.Heartbeat:
    return p.Heartbeat(
        org=device.org.slug,
        device_id=device.id,
        sent_at=sent_at,
        uptime_s=100,
        cpu_percent=cpu,
        disk_free_bytes=10**9,
        disk_total_bytes=3 * 10**9,
        backlog=p.Backlog(logs=4, clips=1, events=2, clip_bytes=5000),
        cameras=[
            p.CameraHealth(
                camera_id="main",
                state=p.CameraState.STREAMING,
                fps=29.9,
                frames_captured=10,
                frames_dropped=0,
                reconnects=0,
            )
        ],
    )


def test_heartbeats_keep_the_latest_figures_and_a_bounded_history(
    store: IngestStore, device: Device
) -> None:
    now = utc_now()
    beats = [
        _heartbeat(device, now - timedelta(seconds=30 * (5 - i)), cpu=float(i)) for i in range(5)
    ]
    for beat in beats:
        _send(store, device, p.Channel.HEARTBEAT, beat)
    _send(store, device, p.Channel.HEARTBEAT, beats[1])  # late and re-delivered
    status = DeviceStatus.get_by_id(device.id)
    assert (status.cpu_percent, status.backlog_records, status.heartbeat_at) == (
        4.0,
        7,
        beats[-1].sent_at,
    )
    assert status.heartbeat["cameras"][0]["fps"] == 29.9
    # Sent 30 s before it arrived: the box's clock is 30 s behind (plus the delivery).
    assert status.clock_skew_ms is not None and -31_000 < status.clock_skew_ms < -29_900
    kept = [s.id for s in HeartbeatSample.select().order_by(HeartbeatSample.sent_at)]
    assert kept == [b.message_id for b in beats[-3:]]


def _command(device: Device, **fields: object) -> Command:
    now = utc_now()
    return Command.create(
        org=device.org_id,
        device=device,
        type="trigger_clip",
        body={"type": "trigger_clip"},
        state=fields.pop("state", CommandState.SENT),
        issued_at=now,
        expires_at=fields.pop("expires_at", now + timedelta(minutes=1)),
        **fields,
    )


def _ack(device: Device, command: Command, status: p.AckStatus, **fields: object) -> p.CommandAck:
    return p.CommandAck(
        org=device.org.slug, device_id=device.id, command_id=command.id, status=status, **fields
    )


def test_acks_move_a_command_forward_only(store: IngestStore, device: Device) -> None:
    command = _command(device)
    accepted = _ack(device, command, p.AckStatus.ACCEPTED)
    done = _ack(device, command, p.AckStatus.DONE, result={"clip_ids": ["x"]})
    for ack in (accepted, done, accepted, done):  # late and re-delivered acks change nothing
        _send(store, device, p.Channel.ACKS, ack)
    command = Command.get_by_id(command.id)
    assert (command.state, command.result) == (CommandState.DONE, {"clip_ids": ["x"]})
    assert (command.acknowledged_at, command.finished_at) == (accepted.sent_at, done.sent_at)
    assert CommandAckRecord.select().count() == 2


def test_a_device_answer_overrides_the_clouds_expiry(store: IngestStore, device: Device) -> None:
    command = _command(device, expires_at=utc_now() - timedelta(seconds=1))
    assert expire_commands(utc_now()) == 1
    assert Command.get_by_id(command.id).state is CommandState.EXPIRED
    _send(
        store, device, p.Channel.ACKS, _ack(device, command, p.AckStatus.REFUSED, reason="expired")
    )
    assert Command.get_by_id(command.id).state is CommandState.REFUSED


def test_an_ack_for_another_devices_command_is_dead_lettered(
    store: IngestStore, device: Device
) -> None:
    other = make_device(device.org)
    command = _command(other)
    _send(store, device, p.Channel.ACKS, _ack(device, command, p.AckStatus.DONE))
    assert Command.get_by_id(command.id).state is CommandState.SENT
    assert DeadLetter.get().code == "unknown_command"
