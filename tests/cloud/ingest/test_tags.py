"""A box's tag reaches the session's other boxes: the ingest asks them for its window."""

from __future__ import annotations

from datetime import timedelta

from peewee import Database

import protocol as p
from cloud.models import Command, DeviceStatus, Log, Session, SessionDevice, SessionStatus, utc_now
from sideline.services.mosquitto import MosquittoBroker
from tests.cloud.factories import make_device, make_org
from tests.cloud.ingest.helpers import cloud_config, running_ingest
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import connect
from tests.waiting import wait_until


def test_a_boxs_tag_asks_the_other_boxes_of_its_session_once(
    db: Database, db_url: str, mosquitto: MosquittoBroker
) -> None:
    org = make_org()
    tagger, other = make_device(org), make_device(org)
    session = Session.create(
        org=org, title="Match", status=SessionStatus.LIVE, started_at=utc_now(), tagging=True
    )
    for device in (tagger, other):
        SessionDevice.create(session=session, device=device)
    pressed = utc_now() - timedelta(seconds=1)
    tag = p.LogRecord(
        id=p.new_id(),
        session_id=session.id,
        occurred_at=pressed,
        source=p.LogSource.MARKER,
        type="goal",
        data={"action": "goal", "by": "gpio5"},
        clip=p.ClipWindow(lead_s=10, lag_s=5),
    )
    plain = p.LogRecord(
        id=p.new_id(), occurred_at=pressed, source=p.LogSource.MARKER, type="marker"
    )
    batch = p.LogBatch(org=org.slug, device_id=tagger.id, records=[tag, plain])
    status = p.Status(
        org=org.slug,
        device_id=tagger.id,
        state=p.DeviceState.ONLINE,
        clip_limits=p.ClipLimits(max_lag_s=60, max_range_s=600, max_pre_s=30, max_post_s=60),
    )
    box = connect(mosquitto, *MQTT_ADMIN)
    try:
        for device in (tagger, other):
            box.subscribe(str(p.Topic("sideline", org.slug, device.id, p.Channel.COMMANDS)))
        with running_ingest(cloud_config(mosquitto, db_url)):
            box.publish(
                str(p.Topic("sideline", org.slug, tagger.id, p.Channel.STATUS)), p.encode(status)
            )
            logs = str(p.Topic("sideline", org.slug, tagger.id, p.Channel.LOGS))
            box.publish(logs, p.encode(batch))
            box.publish(logs, p.encode(batch))  # a re-send asks nobody again
            [message] = box.wait_for(1, timeout=20)
            wait_until(lambda: Log.select().count() == 2, what="both logs")
            wait_until(
                lambda: (
                    DeviceStatus.get_or_none(DeviceStatus.device == tagger.id) is not None
                    and DeviceStatus.get(DeviceStatus.device == tagger.id).clip_limits is not None
                ),
                what="the clip limits",
            )
        assert message.topic.endswith(f"/{other.id}/commands")  # the tagger cut its own
        command = p.decode_as(p.Command, message.payload)
        body = command.command
        assert isinstance(body, p.ClipRange) and body.log_id == tag.id
        assert (body.start, body.end, body.at) == (
            pressed - timedelta(seconds=10),
            pressed + timedelta(seconds=5),
            pressed,
        )
        assert body.session_id == session.id and body.note == "goal"
        stored = Log.get_by_id(tag.id)
        assert (stored.clip_lead_s, stored.clip_lag_s) == (10, 5)
        assert stored.clips_requested_at is not None
        assert Log.get_by_id(plain.id).clip_lead_s is None
        [row] = Command.select().where(Command.log_id == tag.id)
        assert row.device_id == other.id
        limits = DeviceStatus.get(DeviceStatus.device == tagger.id).clip_limits
        assert limits["max_lag_s"] == 60
        assert len(box.messages) == 1
    finally:
        box.close()
