"""The tracker keeps ids stable, follows fast objects, and ends lost tracks."""

from __future__ import annotations

import numpy as np

from agent.detect.config import TrackerConfig
from agent.detect.detector import Detections
from agent.detect.tracker import Tracker

NAMES = ("ball", "person")


def detections(*items: tuple[str, float, float, float, float]) -> Detections:
    boxes = np.array([item[1:] for item in items], dtype=np.float32).reshape(-1, 4)
    return Detections(
        boxes=boxes,
        scores=np.full(len(items), 0.9, dtype=np.float32),
        class_ids=np.array([NAMES.index(item[0]) for item in items], dtype=np.intp),
        class_names=NAMES,
        width=640,
        height=360,
    )


def test_ids_are_stable_for_walking_people() -> None:
    tracker = Tracker(TrackerConfig(min_hits=2))
    ids = []
    for step in range(10):
        update = tracker.update(
            detections(
                ("person", 100 + 5 * step, 100, 140 + 5 * step, 180),
                ("person", 400 - 5 * step, 100, 440 - 5 * step, 180),
            ),
            at=step * 0.2,
        )
        ids.append(sorted(t.id for t in update.tracks))
        if step == 1:
            assert len(update.newly_confirmed) == 2
    assert all(i == ids[0] for i in ids) and len(ids[0]) == 2


def test_a_fast_ball_is_followed_by_its_velocity() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1))
    seen = set()
    for step in range(8):  # 60 px per inference, a 30 px ball: no overlap between frames
        x = 20 + 60 * step
        update = tracker.update(detections(("ball", x, 100, x + 30, 130)), at=step * 0.2)
        seen |= {t.id for t in update.tracks}
    assert seen == {1}


def test_classes_are_tracked_apart() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1))
    tracker.update(detections(("ball", 100, 100, 140, 140)), at=0)
    update = tracker.update(detections(("person", 100, 100, 140, 140)), at=0.2)
    assert {t.label for t in update.tracks} == {"ball", "person"}
    assert len({t.id for t in update.tracks}) == 2


def test_tracks_end_after_max_missed_inferences() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, max_missed=2))
    tracker.update(detections(("ball", 100, 100, 140, 140)), at=0)
    ended = []
    for step in range(1, 5):
        update = tracker.update(detections(), at=step * 0.2)
        ended += update.ended
        if step <= 2:
            assert len(update.tracks) == 1
    assert [t.id for t in ended] == [1]


def test_tracks_outside_the_searched_region_are_not_missed() -> None:
    tracker = Tracker(TrackerConfig(min_hits=1, max_missed=1))
    tracker.update(detections(("person", 500, 100, 540, 180)), at=0)
    for step in range(1, 6):  # the detector only looked at the left half
        update = tracker.update(detections(), at=step * 0.2, looked_at=(0, 0, 320, 360))
    assert [t.id for t in update.tracks] == [1] and update.tracks[0].missed == 0


def test_unconfirmed_tracks_are_not_confirmed_by_one_detection() -> None:
    tracker = Tracker(TrackerConfig(min_hits=3))
    update = tracker.update(detections(("ball", 0, 0, 10, 10)), at=0)
    assert not update.tracks[0].confirmed and not update.newly_confirmed
