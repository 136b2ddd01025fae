"""decode_for: every down-channel reader decodes, then checks the message is ours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.sync.downlink import Misaddressed, decode_for
from protocol import (
    Command,
    DesiredState,
    Message,
    ProtocolError,
    Receipt,
    TriggerClip,
    encode,
    new_id,
)


def _message(model: type[Message], org: str, device_id: str) -> Message:
    now = datetime.now(UTC)
    if model is Receipt:
        return Receipt(org=org, device_id=device_id, kind="logs", for_message_id=new_id())
    if model is Command:
        return Command(
            org=org,
            device_id=device_id,
            command_id=new_id(),
            issued_at=now,
            expires_at=now + timedelta(minutes=1),
            command=TriggerClip(),
        )
    return DesiredState(org=org, device_id=device_id, revision=3)


MODELS = [Receipt, Command, DesiredState]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_ours_decodes(model: type[Message]) -> None:
    sent = _message(model, "org1", "box1")
    got = decode_for(model, encode(sent), what="it", org="org1", device_id="box1")
    assert got == sent


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize(("org", "device_id"), [("org1", "box2"), ("org2", "box1")])
def test_another_devices_is_refused_naming_both(
    model: type[Message], org: str, device_id: str
) -> None:
    sent = _message(model, org, device_id)
    with pytest.raises(Misaddressed) as refused:
        decode_for(model, encode(sent), what="thing", org="org1", device_id="box1")
    assert str(refused.value) == f"thing addressed to {org}/{device_id}; this is org1/box1"
    assert refused.value.message == sent


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("payload", [b"", b"not json", b'{"protocol": 1}'])
def test_what_does_not_decode_is_a_protocol_error(model: type[Message], payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_for(model, payload, what="it", org="org1", device_id="box1")
