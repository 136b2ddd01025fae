"""Round trips and precise errors for every message on the wire."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocol as p
from tests.protocol import strategies as s


@given(s.any_messages)
def test_every_message_survives_a_round_trip(message: p.Message) -> None:
    channel = next(c for c, model in p.CHANNEL_MODELS.items() if isinstance(message, model))
    decoded = p.decode(channel, p.encode(message))
    assert decoded == message
    assert type(decoded) is type(message)


@given(s.log_batches())
def test_timestamps_are_utc_with_milliseconds_on_the_wire(batch: p.LogBatch) -> None:
    raw = json.loads(p.encode(batch))
    for stamp in [raw["sent_at"], *(r["occurred_at"] for r in raw["records"])]:
        assert stamp.endswith("Z")
        assert len(stamp.split(".")[1]) == 4  # three digits of milliseconds and the Z


def test_times_in_other_zones_become_utc_and_lose_microseconds() -> None:
    paris = timezone(timedelta(hours=1))
    record = p.LogRecord(
        id=p.new_id(),
        occurred_at=datetime(2026, 11, 22, 11, 32, 5, 123_456, tzinfo=paris),
        source=p.LogSource.MARKER,
        type="marker",
    )
    assert record.occurred_at == datetime(2026, 11, 22, 10, 32, 5, 123_000, tzinfo=UTC)


def test_naive_time_is_refused_with_the_field_named() -> None:
    batch = {
        "protocol": 1,
        "org": "org1",
        "device_id": "dev1",
        "records": [
            {
                "id": str(p.new_id()),
                "occurred_at": "2026-11-22T10:00:00",
                "source": "marker",
                "type": "m",
            }
        ],
    }
    with pytest.raises(p.SchemaMismatch) as caught:
        p.decode(p.Channel.LOGS, json.dumps(batch).encode())
    assert caught.value.errors[0].path == "records.0.occurred_at"
    assert "timezone-aware" in str(caught.value)


def _valid_log_payload() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(
        p.encode(
            p.LogBatch(
                org="org1",
                device_id="dev1",
                records=[
                    p.LogRecord(
                        id=p.new_id(), occurred_at=p.utc_now(), source="marker", type="marker"
                    )
                ],
            )
        )
    )
    return loaded


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d["records"][0].update(source="bogus"), "records.0.source"),
        (lambda d: d["records"][0].update(id="not-a-uuid"), "records.0.id"),
        (
            lambda d: d["records"][0].update(id="6f1c8a2e-0a7e-4c55-9a51-0b6f3f2d9a10"),
            "records.0.id",
        ),
        (lambda d: d["records"][0].pop("type"), "records.0.type"),
        (lambda d: d["records"][0].update(extra_field=1), "records.0.extra_field"),
        (lambda d: d.update(device_id="dev/2"), "device_id"),
        (lambda d: d.update(org="+"), "org"),
        (lambda d: d.update(records=[]), "records"),
        (lambda d: d.update(message_id="x"), "message_id"),
        (lambda d: d.pop("protocol"), "(message)"),
    ],
)
def test_malformed_payload_error_names_the_bad_field(mutate, path) -> None:  # type: ignore[no-untyped-def]
    payload = _valid_log_payload()
    mutate(payload)
    with pytest.raises(p.SchemaMismatch) as caught:
        p.decode(p.Channel.LOGS, json.dumps(payload).encode())
    assert path in [e.path for e in caught.value.errors]
    assert path in str(caught.value)
    assert caught.value.code == "schema"


def test_uuid_v4_record_id_is_refused_because_ids_must_be_time_ordered() -> None:
    payload = _valid_log_payload()
    payload["records"][0]["id"] = "6f1c8a2e-0a7e-4c55-9a51-0b6f3f2d9a10"
    with pytest.raises(p.SchemaMismatch, match="UUID version 7 expected"):
        p.decode(p.Channel.LOGS, json.dumps(payload).encode())


@pytest.mark.parametrize(
    ("payload", "error", "code"),
    [
        (b"\xff\xfe", p.MalformedPayload, "not_json"),
        (b"{not json", p.MalformedPayload, "not_json"),
        (b"[1, 2]", p.MalformedPayload, "not_json"),
        (
            b'{"protocol": 2, "org": "o", "device_id": "d"}',
            p.UnsupportedVersion,
            "unsupported_version",
        ),
        (b" " * (p.MAX_PAYLOAD_BYTES + 1), p.PayloadTooLarge, "too_large"),
    ],
)
def test_unreadable_payloads_get_a_stable_code(
    payload: bytes, error: type[p.ProtocolError], code: str
) -> None:
    with pytest.raises(error) as caught:
        p.decode(p.Channel.LOGS, payload)
    assert caught.value.code == code
    assert "logs payload" in str(caught.value)


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_anything_but_protocol_errors(payload: bytes) -> None:
    for channel in p.Channel:
        try:
            p.decode(channel, payload)
        except p.ProtocolError:
            pass


def test_clip_keys_must_be_under_the_devices_prefix() -> None:
    clip_id = p.new_id()
    now = p.utc_now()
    with pytest.raises(ValueError, match="not under 'org1/dev1/'"):
        p.ClipBatch(
            org="org1",
            device_id="dev1",
            records=[
                p.ClipRecord(
                    id=clip_id,
                    camera_id="cam1",
                    started_at=now,
                    ended_at=now,
                    triggers=[p.Trigger(source="button", at=now)],
                    object_key=f"org1/dev2/{clip_id}.mp4",
                    size_bytes=1,
                    sha256="0" * 64,
                    duration_ms=0,
                    width=1,
                    height=1,
                )
            ],
        )


def test_command_must_expire_after_it_is_issued() -> None:
    now = p.utc_now()
    with pytest.raises(ValueError, match="expires_at must be after issued_at"):
        p.Command(
            org="o",
            device_id="d",
            command_id=p.new_id(),
            issued_at=now,
            expires_at=now,
            command=p.TriggerClip(),
        )


def test_unknown_command_type_names_the_discriminator() -> None:
    now = p.utc_now()
    payload = {
        "protocol": 1,
        "org": "o",
        "device_id": "d",
        "command_id": str(p.new_id()),
        "issued_at": p.format_utc(now),
        "expires_at": p.format_utc(now + timedelta(minutes=1)),
        "command": {"type": "self_destruct"},
    }
    with pytest.raises(p.SchemaMismatch) as caught:
        p.decode_as(p.Command, json.dumps(payload).encode())
    assert caught.value.errors[0].path == "command"
    assert "trigger_clip" in caught.value.errors[0].message


def test_new_ids_are_v7_and_ordered() -> None:
    ids = [p.new_id() for _ in range(1000)]
    assert all(i.version == 7 for i in ids)
    assert len(set(ids)) == 1000
    # time-ordered to the millisecond: the timestamp prefix never decreases
    prefixes = [i.int >> 80 for i in ids]
    assert prefixes == sorted(prefixes)


def _clip(**fields: Any) -> dict[str, Any]:
    now = p.utc_now().isoformat()
    clip_id = str(p.new_id())
    base: dict[str, Any] = {
        "id": clip_id,
        "camera_id": "cam1",
        "started_at": now,
        "ended_at": now,
        "triggers": [{"source": "lan", "at": now}],
        "object_key": f"org1/dev1/{clip_id}.mp4",
        "size_bytes": 10,
        "sha256": "0" * 64,
        "duration_ms": 1000,
        "width": 640,
        "height": 360,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def _clips_payload(*records: dict[str, Any]) -> bytes:
    body = {"protocol": 1, "message_id": str(p.new_id()), "org": "org1", "device_id": "dev1"}
    body |= {"sent_at": p.utc_now().isoformat(), "records": list(records)}
    return json.dumps(body).encode()


FAILURE = {"reason": "power_lost", "message": "power lost before the clip was complete"}
NO_OBJECT = {"object_key": None, "sha256": None, "size_bytes": 0, "duration_ms": 0}


def test_a_failed_clip_carries_its_reason_and_no_object() -> None:
    batch = p.decode(p.Channel.CLIPS, _clips_payload(_clip(failure=FAILURE, width=0, **NO_OBJECT)))
    assert isinstance(batch, p.ClipBatch)
    [record] = batch.records
    assert record.failure is not None and record.failure.reason is p.ClipFailureReason.POWER_LOST
    assert record.object_key is None and record.sha256 is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"failure": FAILURE}, "a failed clip has no object"),  # an object named anyway
        ({"failure": FAILURE, **NO_OBJECT, "size_bytes": 5}, "a failed clip has no object"),
        ({"failure": FAILURE, **NO_OBJECT, "frame_count": 3}, "a failed clip has no object"),
        ({"object_key": None}, "needs its object_key and sha256"),
        ({"sha256": None}, "needs its object_key and sha256"),
        ({"width": 0}, "width and height must be positive"),
        ({"failure": {"reason": "lost", "message": "x"}, **NO_OBJECT}, "failure.reason"),
    ],
)
def test_a_clip_is_either_whole_or_failed(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(p.SchemaMismatch) as caught:
        p.decode(p.Channel.CLIPS, _clips_payload(_clip(**fields)))
    assert message in str(caught.value)
