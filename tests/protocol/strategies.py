"""Hypothesis strategies for protocol messages (valid by construction)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import strategies as st

import protocol as p

segments = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
# Milliseconds since 2000 up to 2100, as aware UTC datetimes (what the wire keeps).
utc_times = st.integers(min_value=946_684_800_000, max_value=4_102_444_800_000).map(
    lambda ms: datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
)
v7_ids = st.builds(lambda _: p.new_id(), st.integers())
any_uuids = st.uuids().map(lambda u: UUID(int=u.int))
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=5)
short_text = st.text(min_size=1, max_size=64)

log_records = st.builds(
    p.LogRecord,
    id=v7_ids,
    session_id=st.none() | any_uuids,
    camera_id=st.none() | segments,
    occurred_at=utc_times,
    source=st.sampled_from(p.LogSource),
    type=short_text,
    data=json_objects,
)

triggers = st.builds(
    p.Trigger,
    source=st.sampled_from(p.TriggerSource),
    at=utc_times,
    by=st.none() | st.text(max_size=40),
    note=st.none() | st.text(max_size=100),
    command_id=st.none() | any_uuids,
)

detection_events = st.builds(
    p.DetectionEvent,
    id=v7_ids,
    session_id=st.none() | any_uuids,
    camera_id=segments,
    occurred_at=utc_times,
    kind=st.sampled_from(p.DetectionEventKind),
    label=short_text,
    track_id=st.none() | st.integers(0, 10**6),
    zone=st.none() | short_text,
    count=st.none() | st.integers(0, 1000),
    score=st.none() | st.floats(0, 1),
    box=st.none() | st.tuples(*[st.floats(0, 1)] * 4),
    rule=st.none() | short_text,
    clip_id=st.none() | any_uuids,
    data=json_objects,
)


@st.composite
def log_batches(draw: st.DrawFn) -> p.LogBatch:
    return p.LogBatch(
        org=draw(segments),
        device_id=draw(segments),
        sent_at=draw(utc_times),
        records=draw(st.lists(log_records, min_size=1, max_size=5)),
    )


@st.composite
def event_batches(draw: st.DrawFn) -> p.EventBatch:
    return p.EventBatch(
        org=draw(segments),
        device_id=draw(segments),
        sent_at=draw(utc_times),
        records=draw(st.lists(detection_events, min_size=1, max_size=5)),
    )


@st.composite
def clip_batches(draw: st.DrawFn) -> p.ClipBatch:
    org, device = draw(segments), draw(segments)
    records = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(utc_times)
        clip_id = p.new_id()
        if draw(st.booleans()) and draw(st.booleans()):  # a clip the box could not make
            records.append(
                p.ClipRecord(
                    id=clip_id,
                    session_id=draw(st.none() | any_uuids),
                    camera_id=draw(segments),
                    started_at=start,
                    ended_at=start + timedelta(milliseconds=draw(st.integers(0, 600_000))),
                    triggers=draw(st.lists(triggers, min_size=1, max_size=3)),
                    size_bytes=0,
                    duration_ms=0,
                    frame_count=draw(st.none() | st.just(0)),
                    width=draw(st.integers(0, 4096)),
                    height=draw(st.integers(0, 2160)),
                    failure=p.ClipFailure(
                        reason=draw(st.sampled_from(list(p.ClipFailureReason))),
                        message=draw(st.text(max_size=500)),
                    ),
                )
            )
            continue
        records.append(
            p.ClipRecord(
                id=clip_id,
                session_id=draw(st.none() | any_uuids),
                camera_id=draw(segments),
                started_at=start,
                ended_at=start + timedelta(milliseconds=draw(st.integers(0, 600_000))),
                triggers=draw(st.lists(triggers, min_size=1, max_size=3)),
                object_key=f"{org}/{device}/2026/11/22/{clip_id}.mp4",
                thumbnail_key=f"{org}/{device}/2026/11/22/{clip_id}.jpg",
                size_bytes=draw(st.integers(0, 10**10)),
                sha256=draw(st.from_regex(r"[0-9a-f]{64}", fullmatch=True)),
                duration_ms=draw(st.integers(0, 600_000)),
                frame_count=draw(st.none() | st.integers(0, 20_000)),
                width=draw(st.integers(1, 4096)),
                height=draw(st.integers(1, 2160)),
            )
        )
    return p.ClipBatch(org=org, device_id=device, sent_at=draw(utc_times), records=records)


command_bodies = st.one_of(
    st.builds(
        p.TriggerClip,
        camera_id=st.none() | segments,
        pre_s=st.none() | st.floats(0, 600),
        post_s=st.none() | st.floats(0, 600),
        at=st.none() | utc_times,
        note=st.none() | st.text(max_size=50),
        requested_by=st.none() | st.text(max_size=20),
        session_id=st.none() | any_uuids,
    ),
    utc_times.flatmap(
        lambda start: st.builds(
            p.ClipRange,
            camera_id=st.none() | segments,
            start=st.just(start),
            end=st.integers(1, 3_600_000).map(lambda ms: start + timedelta(milliseconds=ms)),
        )
    ),
    st.builds(p.StartRecording, camera_id=st.none() | segments),
    st.builds(p.StopRecording, camera_id=st.none() | segments),
    st.just(p.ReloadConfig()),
)


@st.composite
def commands(draw: st.DrawFn) -> p.Command:
    issued = draw(utc_times)
    return p.Command(
        org=draw(segments),
        device_id=draw(segments),
        command_id=p.new_id(),
        issued_at=issued,
        expires_at=issued + timedelta(milliseconds=draw(st.integers(1, 86_400_000))),
        command=draw(command_bodies),
    )


@st.composite
def receipts(draw: st.DrawFn) -> p.Receipt:
    return p.Receipt(
        org=draw(segments),
        device_id=draw(segments),
        kind=draw(st.sampled_from(["logs", "clips", "events"])),
        for_message_id=draw(any_uuids),
        stored=draw(st.lists(any_uuids, max_size=10)),
        rejected=draw(
            st.lists(st.builds(p.Rejection, id=any_uuids, reason=st.text(max_size=40)), max_size=3)
        ),
    )


any_messages = st.one_of(log_batches(), event_batches(), clip_batches(), commands(), receipts())
