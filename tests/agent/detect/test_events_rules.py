"""Zone events, counts, rate limits and rules, from tracks (no model involved)."""

from __future__ import annotations

import numpy as np

from agent.detect.config import EventsConfig, RuleConfig, ZoneConfig
from agent.detect.events import Observation, ZoneEvents
from agent.detect.ratelimit import TokenBucket
from agent.detect.rules import RuleEngine
from agent.detect.tracker import Track
from agent.detect.zones import Zone, points_in_polygon
from protocol import DetectionEventKind, TriggerSource
from tests.agent.detect.fakes import RecordingTrigger

GOAL = Zone.from_config(
    ZoneConfig(
        name="goal", camera_id="cam1", polygon=[(0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)]
    )
)
T0 = 1_800_000_000.0


def track(track_id: int, label: str, x: float, confirmed: bool = True) -> Track:
    box = np.array([x, 100, x + 20, 120], dtype=np.float32)
    return Track(track_id, label, box, 0.9, T0, T0, confirmed=confirmed)


def observe(
    at: float, *tracks: Track, ended: list[Track] | None = None, **kw: object
) -> Observation:
    return Observation("cam1", T0 + at, 640, 360, list(tracks), ended or [], **kw)  # type: ignore[arg-type]


def test_points_in_polygon_even_odd() -> None:
    square = np.array([(0, 0), (1, 0), (1, 1), (0, 1)], dtype=np.float32)
    points = np.array([(0.5, 0.5), (1.5, 0.5), (-0.1, 0.2), (0.99, 0.01)], dtype=np.float32)
    assert points_in_polygon(points, square).tolist() == [True, False, False, True]


def test_enter_and_leave_once_each_after_debounce() -> None:
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=2, count_interval_s=0))
    xs = [100, 400, 410, 420, 100, 110, 120]  # out, in, in, in, out, out, out
    emitted = [events.update(observe(i * 0.2, track(1, "ball", x))) for i, x in enumerate(xs)]
    kinds = [(i, e.kind, e.zone, e.track_id) for i, batch in enumerate(emitted) for e in batch]
    assert kinds == [
        (2, DetectionEventKind.ENTER, "goal", 1),
        (5, DetectionEventKind.LEAVE, "goal", 1),
    ]
    enter = emitted[2][0]
    assert enter.label == "ball" and enter.box is not None and 0.6 < enter.box[0] < 0.7


def test_a_flicker_on_the_line_makes_no_events() -> None:
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=2, count_interval_s=0))
    xs = [100, 400, 100, 400, 100, 400, 100]
    assert not [
        e for i, x in enumerate(xs) for e in events.update(observe(i * 0.2, track(1, "p", x)))
    ]


def test_unconfirmed_tracks_make_no_events_and_ended_tracks_leave() -> None:
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=1, count_interval_s=0))
    assert events.update(observe(0, track(1, "ball", 400, confirmed=False))) == []
    inside = track(2, "ball", 400)
    assert [e.kind for e in events.update(observe(0.2, inside))] == [DetectionEventKind.ENTER]
    left = events.update(observe(0.4, ended=[inside]))
    assert [(e.kind, e.track_id) for e in left] == [(DetectionEventKind.LEAVE, 2)]


def test_frame_events_when_asked() -> None:
    events = ZoneEvents([], EventsConfig(frame_events=True, count_interval_s=0))
    person = track(3, "person", 10)
    entered = events.update(Observation("cam1", T0, 640, 360, [person], [], [person]))
    assert [(e.kind, e.zone) for e in entered] == [(DetectionEventKind.ENTER, None)]
    left = events.update(observe(1, ended=[person]))
    assert [(e.kind, e.zone) for e in left] == [(DetectionEventKind.LEAVE, None)]


def test_counts_per_zone_and_class_over_the_interval() -> None:
    events = ZoneEvents([GOAL], EventsConfig(count_interval_s=10))
    out: list = []
    for step in range(11):  # two people in the goal, a third for part of the time
        people = [track(1, "person", 400), track(2, "person", 450)]
        if 3 <= step <= 5:
            people.append(track(3, "person", 500))
        out += events.update(observe(step, *people))
    counts = [e for e in out if e.kind == DetectionEventKind.COUNT]
    assert len(counts) == 1
    count = counts[0]
    assert (count.zone, count.label, count.count) == ("goal", "person", 3)
    assert count.data["mean"] == round((2 * 8 + 3 * 3) / 11, 3)
    # Next interval: nobody; one report of zero, then silence.
    more = [e for step in range(11, 33) for e in events.update(observe(step))]
    zero = [e for e in more if e.kind == DetectionEventKind.COUNT]
    assert [(e.count, e.label) for e in zero] == [(0, "person")]


def test_still_frames_count_but_do_not_flip_sides() -> None:
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=1, count_interval_s=0))
    ball = track(1, "ball", 400)
    events.update(observe(0, ball))
    ball.box[:] = [100, 100, 120, 120]  # moved, but the gate said still (not inferred)
    assert events.update(observe(0.2, ball, inferred=False)) == []


def test_token_bucket_limits_the_rate_and_counts_drops() -> None:
    bucket = TokenBucket(per_minute=60, now=0)
    allowed = sum(bucket.allow(0.0) for _ in range(100))
    assert allowed == 60 and bucket.dropped == 40
    assert bucket.allow(1.0) and not bucket.allow(1.0)  # one more token a second


def enter_rule(**kw: object) -> RuleConfig:
    return RuleConfig(
        name="goal-scored", kind="enter", zone="goal", classes=["ball"], cooldown_s=30, **kw
    )


def test_enter_rule_fires_the_clip_trigger_with_cooldown() -> None:
    trigger = RecordingTrigger()
    engine = RuleEngine("cam1", [enter_rule(pre_s=5, post_s=3)], trigger)
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=1, count_interval_s=0))
    fired = []
    for at, x in [(0, 100), (1, 400), (2, 100), (3, 400), (40, 100), (41, 400)]:
        obs = observe(at, track(1, "ball", x))
        fired += engine.evaluate(obs, events.update(obs), events.current_counts)
    assert [e.occurred_at.timestamp() - T0 for e in fired] == [
        1,
        41,
    ]  # the one at 3 s was cooling down
    request = trigger.requests[0]
    assert request.trigger.source == TriggerSource.RULE and request.trigger.by == "goal-scored"
    assert request.trigger.at.timestamp() == T0 + 1
    assert (request.camera_id, request.pre_s, request.post_s) == ("cam1", 5, 3)
    assert fired[0].clip_id == trigger.clip_ids[0] and fired[0].rule == "goal-scored"
    assert fired[0].kind == DetectionEventKind.RULE and fired[0].track_id == 1


def test_enter_rule_ignores_other_classes_and_zones() -> None:
    trigger = RecordingTrigger()
    engine = RuleEngine("cam1", [enter_rule()], trigger)
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=1, count_interval_s=0))
    for at, x in [(0, 100), (1, 400)]:
        obs = observe(at, track(1, "person", x))
        assert engine.evaluate(obs, events.update(obs), events.current_counts) == []
    assert trigger.requests == []


def test_rules_for_another_camera_are_ignored() -> None:
    engine = RuleEngine("cam1", [enter_rule(camera_id="cam2")], RecordingTrigger())
    assert engine.rules == []


def test_enter_the_frame_rule_without_zone() -> None:
    trigger = RecordingTrigger()
    rule = RuleConfig(name="ball-seen", kind="enter", classes=["ball"])
    engine = RuleEngine("cam1", [rule], trigger)
    ball = track(5, "ball", 10)
    fired = engine.evaluate(Observation("cam1", T0, 640, 360, [ball], [], [ball]), [], {})
    assert len(fired) == 1 and fired[0].zone is None and len(trigger.requests) == 1


def test_count_rule_needs_the_count_held_then_rearms() -> None:
    trigger = RecordingTrigger()
    rule = RuleConfig(
        name="crowd",
        kind="count_above",
        zone="goal",
        classes=["person"],
        count=2,
        for_s=2,
        cooldown_s=0,
    )
    engine = RuleEngine("cam1", [rule], trigger)
    timeline = [(0, 3), (1, 3), (2, 3), (3, 3), (4, 1), (5, 3), (6, 3), (7, 3)]
    fired = [
        e for at, n in timeline for e in engine.evaluate(observe(at), [], {("goal", "person"): n})
    ]
    assert [e.occurred_at.timestamp() - T0 for e in fired] == [2, 7]
    assert fired[0].count == 3 and fired[0].label == "person" and fired[0].zone == "goal"


def test_a_refused_clip_still_records_the_rule_with_the_reason() -> None:
    engine = RuleEngine(
        "cam1", [enter_rule()], RecordingTrigger(reject="camera cam1 is not recording")
    )
    events = ZoneEvents([GOAL], EventsConfig(zone_debounce=1, count_interval_s=0))
    fired = []
    for at, x in [(0, 100), (1, 400)]:
        obs = observe(at, track(1, "ball", x))
        fired += engine.evaluate(obs, events.update(obs), events.current_counts)
    assert len(fired) == 1 and fired[0].clip_id is None
    assert fired[0].data["clip_error"] == "camera cam1 is not recording"


def test_a_crashing_trigger_does_not_stop_the_rules() -> None:
    class Broken:
        def request_clip(self, request: object) -> list[object]:
            raise OSError("disk full")

    engine = RuleEngine("cam1", [RuleConfig(name="r", kind="enter", cooldown_s=0)], Broken())  # type: ignore[arg-type]
    ball = track(1, "ball", 10)
    fired = engine.evaluate(Observation("cam1", T0, 640, 360, [ball], [], [ball]), [], {})
    assert fired[0].data["clip_error"] == "OSError: disk full"
