"""Commands and the desired state, from the cloud's side of a real broker to the capture seam."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from agent.config import AgentConfig
from protocol import (
    AckStatus,
    ActiveSession,
    Channel,
    Command,
    CommandAck,
    DesiredState,
    Topic,
    TriggerClip,
    TriggerSource,
    decode_as,
    encode,
    new_id,
    utc_now,
)
from sideline.services.mosquitto import MosquittoBroker
from tests.agent.harness import FakeClipTrigger, TestParts, running_daemon
from tests.agent.sync.conftest import Device, agent_config
from tests.mqtt_helpers import TestClient
from tests.waiting import wait_until


def topic(device: Device, channel: Channel) -> str:
    return str(Topic("sideline", device.org, device.id, channel))


def command(device: Device, body: object | None = None, **fields: object) -> Command:
    now = utc_now()
    values: dict[str, object] = {
        "org": device.org,
        "device_id": device.id,
        "command_id": new_id(),
        "issued_at": now,
        "expires_at": now + timedelta(minutes=5),
        "command": body or TriggerClip(pre_s=5, post_s=2, note="nice pass", requested_by="coach-7"),
    }
    values.update(fields)
    return Command.model_validate(values)


def acks(admin: TestClient) -> dict[UUID, CommandAck]:
    found = {}
    for message in admin.messages:
        if message.topic.endswith("/acks"):
            ack = decode_as(CommandAck, message.payload)
            found[ack.command_id] = ack
    return found


def ack_for(admin: TestClient, command_id: UUID) -> CommandAck:
    wait_until(lambda: command_id in acks(admin), what=f"the ack of {command_id}")
    return acks(admin)[command_id]


def start(
    tmp_path: Path, device: Device, broker: MosquittoBroker, admin: TestClient
) -> AgentConfig:
    admin.subscribe(topic(device, Channel.ACKS))
    return agent_config(tmp_path, device, broker)


def test_trigger_clip_reaches_the_clip_trigger_and_is_acked_with_clip_ids(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    config = start(tmp_path, device, mosquitto, admin)
    trigger = FakeClipTrigger()
    session = new_id()
    parts = TestParts(trigger=trigger)
    with running_daemon(config, parts=parts) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        desired = DesiredState(
            org=device.org,
            device_id=device.id,
            revision=1,
            session=ActiveSession(session_id=session, name="U12 Tuesday"),
        )
        admin.publish(topic(device, Channel.DESIRED), encode(desired), retain=True)
        wait_until(lambda: parts.desired, what="the desired state")
        sent = command(device)
        admin.publish(topic(device, Channel.COMMANDS), encode(sent))
        ack = ack_for(admin, sent.command_id)
    assert ack.status is AckStatus.DONE
    (request,) = trigger.requests
    clip_ids = ack.result["clip_ids"]
    assert isinstance(clip_ids, list) and len(clip_ids) == 1
    assert UUID(str(clip_ids[0])).version == 7
    assert request.trigger.source is TriggerSource.CLOUD
    assert request.trigger.command_id == sent.command_id
    assert (request.trigger.by, request.trigger.note) == ("coach-7", "nice pass")
    assert (request.pre_s, request.post_s) == (5, 2)
    assert request.session_id == session  # the active session from the desired state
    admin.publish(topic(device, Channel.DESIRED), b"", retain=True)


def test_a_duplicate_is_refused_even_after_a_restart(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    config = start(tmp_path, device, mosquitto, admin)
    trigger = FakeClipTrigger()
    sent = command(device)
    with running_daemon(config, parts=TestParts(trigger=trigger)) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        admin.publish(topic(device, Channel.COMMANDS), encode(sent))
        assert ack_for(admin, sent.command_id).status is AckStatus.DONE
    admin.messages.clear()
    with running_daemon(config, parts=TestParts(trigger=trigger)) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected again")
        admin.publish(topic(device, Channel.COMMANDS), encode(sent))
        ack = ack_for(admin, sent.command_id)
    assert ack.status is AckStatus.REFUSED and "duplicate" in str(ack.reason)
    assert len(trigger.requests) == 1  # carried out once


def test_bad_commands_are_refused_with_the_reason_and_the_agent_carries_on(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    config = start(tmp_path, device, mosquitto, admin)
    trigger = FakeClipTrigger()
    other_device = command(device, device_id="another-box")
    now = utc_now()
    expired = command(
        device, issued_at=now - timedelta(minutes=10), expires_at=now - timedelta(minutes=5)
    )
    unknown_field = command(device)
    payload = json.loads(encode(unknown_field))
    payload["command"]["zoom"] = 3
    good = command(device)
    with running_daemon(config, parts=TestParts(trigger=trigger)) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        for message in (encode(other_device), encode(expired), json.dumps(payload).encode(), b"{"):
            admin.publish(topic(device, Channel.COMMANDS), message)
        admin.publish(topic(device, Channel.COMMANDS), encode(good))
        assert ack_for(admin, good.command_id).status is AckStatus.DONE  # still serving
        refused = {
            i: ack_for(admin, i)
            for i in (other_device.command_id, expired.command_id, unknown_field.command_id)
        }
    assert {a.status for a in refused.values()} == {AckStatus.REFUSED}
    assert "addressed to org1/another-box" in str(refused[other_device.command_id].reason)
    assert "expired at" in str(refused[expired.command_id].reason)
    assert "command.trigger_clip.zoom" in str(refused[unknown_field.command_id].reason)
    assert len(trigger.requests) == 1


def test_a_command_without_its_target_fails_and_a_rejected_one_is_refused(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    config = start(tmp_path, device, mosquitto, admin)
    first, second = command(device), command(device)
    with running_daemon(config, parts=TestParts(trigger=None)) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        admin.publish(topic(device, Channel.COMMANDS), encode(first))
        no_capture = ack_for(admin, first.command_id)
    refusing = FakeClipTrigger(refuse_with="camera cam9 is not configured on this box")
    with running_daemon(config, parts=TestParts(trigger=refusing)) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        admin.publish(topic(device, Channel.COMMANDS), encode(second))
        rejected = ack_for(admin, second.command_id)
    assert no_capture.status is AckStatus.FAILED and "no camera capture" in str(no_capture.reason)
    assert rejected.status is AckStatus.REFUSED and "cam9" in str(rejected.reason)


def test_only_newer_desired_states_apply_and_the_last_one_survives_a_restart(
    tmp_path: Path, mosquitto: MosquittoBroker, device: Device, admin: TestClient
) -> None:
    config = agent_config(tmp_path, device, mosquitto)

    def desired(revision: int, name: str) -> bytes:
        session = ActiveSession(session_id=new_id(), name=name)
        return encode(
            DesiredState(org=device.org, device_id=device.id, revision=revision, session=session)
        )

    parts = TestParts()
    with running_daemon(config, parts=parts) as daemon:
        wait_until(lambda: daemon.link.subscribed, what="connected")
        admin.publish(topic(device, Channel.DESIRED), desired(5, "five"), retain=True)
        wait_until(lambda: parts.desired, what="revision 5")
        admin.publish(topic(device, Channel.DESIRED), desired(3, "three (stale)"))
        admin.publish(topic(device, Channel.DESIRED), desired(6, "six"))
        wait_until(lambda: len(parts.desired) == 2, what="revision 6")
    assert [d.revision for d in parts.desired] == [5, 6]
    admin.publish(topic(device, Channel.DESIRED), b"", retain=True)  # the broker forgets it
    offline = config.model_copy(update={"mqtt": config.mqtt.model_copy(update={"port": 9})})
    restarted = TestParts()
    with running_daemon(offline, parts=restarted):
        wait_until(lambda: restarted.desired, what="the stored state at start-up")
    assert [(d.revision, d.session.name) for d in restarted.desired] == [(6, "six")]  # type: ignore[union-attr]
