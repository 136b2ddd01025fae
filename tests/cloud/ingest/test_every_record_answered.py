"""Every record a box sends is stored, or refused by id with a reason, in its receipt.

The cases that used to go unmentioned: NaN and Infinity (stored as null, or
refused by the database), a second copy of an id in one batch (dropped), the
records past the 500th of a batch (dropped), and a batch the JSON parser cannot
read as a whole because of one record (all of it dead-lettered, the valid
records lost, no receipt). Through the real worker, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest
from peewee import Database

import protocol as p
from cloud.models import DeadLetter, Log
from tests.cloud.ingest.helpers import log_batch
from tests.cloud.ingest.test_dead_letters import Harness


@pytest.fixture
def harness(db: Database) -> Harness:
    return Harness(db)


def _answers(harness: Harness, payload: bytes) -> tuple[list[UUID], dict[UUID, str]]:
    published = len(harness.link.published)
    harness.feed(p.Channel.LOGS, payload)
    receipts = [p.decode_as(p.Receipt, m) for _, m in harness.link.published[published:]]
    stored = [i for r in receipts for i in r.stored]
    refused = {x.id: x.reason for r in receipts for x in r.rejected}
    return stored, refused


def _document(harness: Harness, count: int) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        p.encode(log_batch(harness.org, harness.device.id, count))
    )
    return document


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_number_json_cannot_hold_is_refused_by_id_not_stored_as_null(
    harness: Harness, token: str
) -> None:
    document = _document(harness, 3)
    bad = UUID(document["records"][1]["id"])
    document["records"][1]["data"] = {"speed": "MARK"}
    payload = json.dumps(document).replace('"MARK"', token).encode()
    stored, refused = _answers(harness, payload)
    assert set(stored) == {UUID(r["id"]) for r in document["records"]} - {bad}
    assert list(refused) == [bad] and "speed" in refused[bad]
    assert bad not in {log.id for log in Log.select()}


def test_an_identical_second_copy_is_stored_once_and_a_different_one_is_named(
    harness: Harness,
) -> None:
    document = _document(harness, 2)
    first = document["records"][0]
    document["records"] += [dict(first), {**first, "type": "changed"}]
    stored, refused = _answers(harness, json.dumps(document).encode())
    ids = [UUID(r["id"]) for r in document["records"][:2]]
    assert sorted(stored) == sorted(ids)
    assert list(refused) == [ids[0]] and "records.3.id repeats" in refused[ids[0]]
    assert Log.get_by_id(ids[0]).type == first["type"]


def test_every_record_of_a_batch_past_the_limit_is_stored_and_receipted(
    harness: Harness,
) -> None:
    document = _document(harness, 1)
    template = document["records"][0]
    document["records"] = [
        {**template, "id": str(p.new_id()), "data": {}} for _ in range(p.MAX_RECORDS_PER_BATCH + 1)
    ]
    payload = json.dumps(document, separators=(",", ":")).encode()
    assert len(payload) < p.MAX_PAYLOAD_BYTES
    stored, refused = _answers(harness, payload)
    ids = {UUID(r["id"]) for r in document["records"]}
    assert set(stored) == ids and len(stored) == len(ids) and not refused
    assert Log.select().count() == len(ids)
    assert DeadLetter.get().code == "schema"  # the batch broke the rule, and it is on record


@pytest.mark.parametrize("value", ["[" * 300 + "]" * 300, "[" * 50_000 + "]" * 50_000, "9" * 5000])
def test_one_record_the_parser_cannot_read_costs_only_itself(harness: Harness, value: str) -> None:
    document = _document(harness, 3)
    document["records"][1]["data"] = {"x": "MARK"}
    payload = json.dumps(document).replace('"MARK"', value).encode()
    stored, refused = _answers(harness, payload)
    ids = [UUID(r["id"]) for r in document["records"]]
    assert sorted(stored) == sorted([ids[0], ids[2]])
    assert list(refused) == [ids[1]] and "records.1" in refused[ids[1]]
    assert DeadLetter.get().payload_size == len(payload)
