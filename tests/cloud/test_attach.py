"""Records that arrived before their session knew its device are attached afterwards."""

from __future__ import annotations

from datetime import timedelta

from peewee import Database

import protocol as p
from cloud.ingest.attach import attach_unsessioned_records
from cloud.ingest.config import IngestConfig
from cloud.ingest.store import IngestStore
from cloud.models import DetectionEventRecord, Log, SessionDevice, utc_now
from tests.cloud.factories import make_device, make_org, make_session
from tests.cloud.ingest.helpers import decoded, event_batch, log_batch


def test_a_session_gains_a_device_and_takes_its_records_in_its_window(db: Database) -> None:
    org = make_org()
    device = make_device(org)
    now = utc_now()
    session = make_session(org, started_at=now - timedelta(minutes=30), ended_at=now)
    store = IngestStore(db, IngestConfig(), worker="test")
    inside = log_batch(org.slug, device.id, 3, at=now - timedelta(minutes=10))
    outside = log_batch(org.slug, device.id, 2, at=now - timedelta(hours=2))
    events = event_batch(org.slug, device.id, 2, at=now - timedelta(minutes=5))
    store.write(
        [
            decoded(org.slug, device.id, p.Channel.LOGS, inside),
            decoded(org.slug, device.id, p.Channel.LOGS, outside),
            decoded(org.slug, device.id, p.Channel.EVENTS, events),
        ]
    )
    assert Log.select().where(Log.session.is_null(False)).count() == 0
    SessionDevice.create(session=session, device=device)
    assert attach_unsessioned_records(session.id) == 5
    assert {log.id for log in Log.select().where(Log.session == session.id)} == {
        r.id for r in inside.records
    }
    assert (
        DetectionEventRecord.select().where(DetectionEventRecord.session == session.id).count() == 2
    )
    assert attach_unsessioned_records(session.id) == 0  # already attached: nothing moves
