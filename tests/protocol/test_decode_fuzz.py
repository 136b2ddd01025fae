"""Fuzzing the decoder: every input gives a message or a ProtocolError, nothing else.

Three generators, from blind to targeted: arbitrary bytes; arbitrary JSON
documents (deep, wide, huge numbers, NaN); and valid batches with one value
replaced by something hostile at a random place (times outside what a datetime
holds, numbers past 64 bits or past any float, nesting past every parser's
limit, nulls, wrong types). For batches, the salvage path is held to its own
promise: every other record is kept, and the bad one is named when it has an id.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocol as p
from cloud.ingest.salvage import salvage_batch, split_records
from tests.protocol import strategies as s

_CHANNELS = list(p.CHANNEL_MODELS)
_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decodes_or_refuses(channel: p.Channel, payload: bytes) -> p.Message | None:
    try:
        return p.decode(channel, payload)
    except p.ProtocolError as error:
        assert error.code in {"too_large", "not_json", "unsupported_version", "schema"}
        assert str(error)
        return None


@_FUZZ
@given(st.sampled_from(_CHANNELS), st.binary(max_size=2000))
def test_arbitrary_bytes_decode_or_are_refused(channel: p.Channel, payload: bytes) -> None:
    _decodes_or_refuses(channel, payload)


def _deep(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


_HOSTILE_TEXT = [
    "0001-01-01T00:00:00+14:00",  # before datetime.min once in UTC
    "9999-12-31T23:59:59-23:59",  # after datetime.max once in UTC
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
    "2026-01-01T00:00:00",  # naive
    "2026-02-30T00:00:00Z",
    "",
    "x" * 10_000,
    "\x00",
    "\ud800",  # a lone surrogate, as JSON text
]
_HOSTILE_JSON = [
    "null",
    "true",
    "[]",
    "{}",
    str(2**63),
    str(2**64),
    "-" + str(2**70),
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "9" * 4000,
    "9" * 5000,  # past the parser's number limit
    _deep(150),
    _deep(250),  # past pydantic-core's nesting limit
    _deep(5000),  # past Python's recursion limit
    '{"a":' * 300 + "1" + "}" * 300,
    *[json.dumps(text) for text in _HOSTILE_TEXT],
]
hostile_json = st.sampled_from(_HOSTILE_JSON)

json_documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@_FUZZ
@given(st.sampled_from(_CHANNELS), json_documents)
def test_arbitrary_json_decodes_or_is_refused(channel: p.Channel, document: Any) -> None:
    _decodes_or_refuses(channel, json.dumps(document).encode())


@_FUZZ
@given(st.sampled_from(_CHANNELS), st.dictionaries(st.text(max_size=12), hostile_json, max_size=4))
def test_an_envelope_with_hostile_values_is_refused(
    channel: p.Channel, fields: dict[str, str]
) -> None:
    envelope = {"protocol": 1, "org": "o", "device_id": "d", "sent_at": "2026-01-01T00:00:00Z"}
    body = json.dumps(envelope)[:-1]
    for key, value in fields.items():
        body += f", {json.dumps(key)}: {value}"
    _decodes_or_refuses(channel, (body + "}").encode())


_BATCHES = {
    p.Channel.LOGS: s.log_batches(),
    p.Channel.EVENTS: s.event_batches(),
    p.Channel.CLIPS: s.clip_batches(),
}


def _replace(document: Any, path: list[Any], raw_value: str) -> str:
    """``document`` as JSON text with the value at ``path`` replaced by raw JSON text."""
    marker = "\u0000HOSTILE\u0000"
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = marker
    return json.dumps(document).replace(json.dumps(marker), raw_value)


def _paths(value: Any, prefix: list[Any]) -> list[list[Any]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, [*prefix, key])
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, [*prefix, index])
    return found


@st.composite
def hostile_batches(draw: st.DrawFn) -> tuple[p.Channel, dict[str, Any], list[Any], bytes]:
    channel = draw(st.sampled_from(list(_BATCHES)))
    batch = draw(_BATCHES[channel])
    document = json.loads(p.encode(batch))
    index = draw(st.integers(0, len(document["records"]) - 1))
    record_paths = _paths(document["records"][index], ["records", index])
    path = draw(st.sampled_from(record_paths))
    value = draw(hostile_json | st.sampled_from(['"a"', "-1", "0.5", '["x"]']))
    return channel, document, path, _replace(json.loads(p.encode(batch)), path, value).encode()


@_FUZZ
@given(hostile_batches())
def test_one_hostile_value_costs_at_most_its_own_record(
    case: tuple[p.Channel, dict[str, Any], list[Any], bytes],
) -> None:
    channel, original, path, payload = case
    message = _decodes_or_refuses(channel, payload)
    if message is not None:
        return  # the value was acceptable where it was put
    index = path[1]
    salvaged = salvage_batch(channel, payload)
    batch = salvaged.message
    assert batch is None or isinstance(batch, p.LogBatch | p.EventBatch | p.ClipBatch)
    kept = {str(record.id) for record in batch.records} if batch else set()
    refused = {str(rejection.id) for rejection in salvaged.rejected}
    ids = [record["id"] for record in original["records"]]
    others = {record_id for i, record_id in enumerate(ids) if i != index}
    if len(path) == 2 or path[2:] == ["id"]:  # no id left to name the record by
        assert others <= kept
        return
    assert others <= kept, "a valid record beside the hostile one was lost"
    assert ids[index] in refused | kept, "the hostile record was neither kept nor refused"
    assert not refused & others


@pytest.mark.parametrize("depth", [100, 250, 5000, 100_000])
def test_a_record_nested_past_every_limit_is_refused_alone(depth: int) -> None:
    records = [
        {
            "id": str(p.new_id()),
            "occurred_at": "2026-01-01T00:00:00.000Z",
            "source": "marker",
            "type": "marker",
            "data": {"n": n},
        }
        for n in range(3)
    ]
    document = {
        "protocol": 1,
        "message_id": str(p.new_id()),
        "org": "o",
        "device_id": "d",
        "sent_at": "2026-01-01T00:00:00.000Z",
        "records": records,
    }
    payload = _replace(document, ["records", 1, "data", "n"], _deep(depth)).encode()
    with pytest.raises(p.ProtocolError):
        p.decode(p.Channel.LOGS, payload)
    salvaged = salvage_batch(p.Channel.LOGS, payload)
    assert isinstance(salvaged.message, p.LogBatch)
    assert [str(r.id) for r in salvaged.message.records] == [records[0]["id"], records[2]["id"]]
    [refusal] = salvaged.rejected
    assert str(refusal.id) == records[1]["id"]
    assert "records.1" in refusal.reason


@_FUZZ
@given(st.binary(max_size=3000))
def test_splitting_arbitrary_bytes_ends_and_never_raises(payload: bytes) -> None:
    split_records(payload)


@_FUZZ
@given(st.sampled_from(list(_BATCHES)).flatmap(lambda c: _BATCHES[c]))
def test_splitting_a_valid_batch_finds_each_record(batch: p.Message) -> None:
    payload = p.encode(batch)
    split = split_records(payload)
    assert split is not None
    records = batch.records  # type: ignore[attr-defined]
    assert [json.loads(chunk)["id"] for chunk, _ in split.records] == [str(r.id) for r in records]
    assert [record_id for _, record_id in split.records] == [str(r.id).encode() for r in records]
    assert json.loads(split.envelope)["records"] == []
