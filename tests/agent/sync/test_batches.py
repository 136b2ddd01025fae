"""Batches spliced from stored JSON decode exactly as the ingest decodes them."""

from __future__ import annotations

from agent.buffer.outbox import ClaimedBatch
from agent.sync.batches import assemble, check, find_bad_rows
from protocol import Channel, LogBatch, decode, new_id, utc_now
from tests.agent.factories import make_log


def batch_of(*bodies: bytes) -> ClaimedBatch:
    ids = [new_id().bytes for _ in bodies]
    return ClaimedBatch("logs", new_id(), ids, list(bodies))


def test_a_spliced_batch_is_a_valid_message() -> None:
    logs = [make_log(payload_bytes=50) for _ in range(3)]
    batch = ClaimedBatch(
        "logs",
        new_id(),
        [log.id.bytes for log in logs],
        [log.model_dump_json(exclude_none=True).encode() for log in logs],
    )
    payload = assemble(batch, org="org1", device_id="dev1", sent_at=utc_now())
    message = decode(Channel.LOGS, payload)
    assert isinstance(message, LogBatch) and list(message.records) == logs
    assert message.message_id == batch.message_id
    assert check("logs", payload, full=True) is None


def test_bad_rows_are_named_one_by_one() -> None:
    good = make_log()
    wrong_type = good.model_dump_json().replace('"marker"', '"bogus"', 1).encode()
    batch = ClaimedBatch(
        "logs",
        new_id(),
        [good.id.bytes, new_id().bytes, make_log().id.bytes],
        [good.model_dump_json().encode(), b'{"id": "x"', wrong_type],
    )
    payload = assemble(batch, org="org1", device_id="dev1", sent_at=utc_now())
    assert "not well-formed JSON" in str(check("logs", payload, full=False))
    bad = find_bad_rows(batch, org="org1", device_id="dev1")
    assert [b.id for b in bad] == batch.ids[1:]
    assert all(b.reason.startswith("corrupt row") for b in bad)
