"""From tracks to events: enter/leave per track and zone, counts per zone over time.

One event per change, not one per frame: "person 7 entered zone A". A track's
side of a zone border only flips after ``zone_debounce`` observations in a row
on the other side, so someone standing on the line does not flicker. Counts
are the most (and the mean) confirmed objects of each class in each zone over
``count_interval_s``; an interval is reported when something was there or
when the count just fell to zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from agent.detect.config import EventsConfig
from agent.detect.tracker import Track
from agent.detect.zones import Zone
from protocol import DetectionEvent, DetectionEventKind, new_id

__all__ = ["Observation", "ZoneEvents", "make_event", "utc"]


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one camera's detector saw at one moment (or, on a still frame, still sees)."""

    camera_id: str
    at: float  # UTC epoch seconds of the frame
    width: int
    height: int
    tracks: list[Track]  # alive tracks, confirmed or not
    ended: list[Track] = field(default_factory=list)
    newly_confirmed: list[Track] = field(default_factory=list)
    inferred: bool = True  # False: a still frame, the tracks are carried over unchanged

    def confirmed(self) -> list[Track]:
        return [t for t in self.tracks if t.confirmed]


def make_event(
    observation: Observation,
    kind: DetectionEventKind,
    label: str,
    track: Track | None = None,
    **fields: Any,
) -> DetectionEvent:
    box = None
    score = None
    if track is not None:
        x1, y1, x2, y2 = (float(v) for v in track.box)
        w, h = observation.width, observation.height
        box = (
            min(max(x1 / w, 0.0), 1.0),
            min(max(y1 / h, 0.0), 1.0),
            min(max(x2 / w, 0.0), 1.0),
            min(max(y2 / h, 0.0), 1.0),
        )
        score = min(max(track.score, 0.0), 1.0)
        fields.setdefault("track_id", track.id)
    return DetectionEvent(
        id=new_id(),
        camera_id=observation.camera_id,
        occurred_at=utc(observation.at),
        kind=kind,
        label=label,
        box=box,
        score=score,
        **fields,
    )


@dataclass
class _Side:
    inside: bool = False
    streak: int = 0  # observations in a row on the other side


@dataclass
class _Tally:
    max: int = 0
    total: int = 0
    observations: int = 0


class ZoneEvents:
    """Per camera; fed every observation (inferred or still) by the detection thread."""

    def __init__(self, zones: list[Zone], config: EventsConfig) -> None:
        self.zones = zones
        self.config = config
        self._sides: dict[tuple[int, str], _Side] = {}
        self._tallies: dict[tuple[str, str], _Tally] = {}
        self._reported: dict[tuple[str, str], int] = {}  # last count reported per zone and label
        self._interval_start: float | None = None
        self.current_counts: dict[tuple[str, str], int] = {}

    def update(self, observation: Observation) -> list[DetectionEvent]:
        events: list[DetectionEvent] = []
        confirmed = observation.confirmed()
        if self.config.frame_events:
            for track in observation.newly_confirmed:
                events.append(make_event(observation, DetectionEventKind.ENTER, track.label, track))
            for track in observation.ended:
                if track.confirmed:
                    events.append(
                        make_event(observation, DetectionEventKind.LEAVE, track.label, track)
                    )
        for track in observation.ended:
            for zone in self.zones:
                side = self._sides.pop((track.id, zone.name), None)
                if side is not None and side.inside:
                    events.append(
                        make_event(
                            observation,
                            DetectionEventKind.LEAVE,
                            track.label,
                            track,
                            zone=zone.name,
                        )
                    )
        counts: dict[tuple[str, str], int] = {}
        for zone in self.zones:
            if not confirmed:
                continue
            boxes = np.stack([t.box for t in confirmed])
            inside = zone.contains(boxes, observation.width, observation.height)
            for track, now_inside in zip(confirmed, inside, strict=True):
                if now_inside:
                    key = (zone.name, track.label)
                    counts[key] = counts.get(key, 0) + 1
                if not observation.inferred:
                    continue  # nothing moved: no side can have changed
                kind = self._step(track.id, zone.name, bool(now_inside))
                if kind is not None:
                    events.append(make_event(observation, kind, track.label, track, zone=zone.name))
        self.current_counts = counts
        events.extend(self._tally(observation, counts))
        return events

    def _step(self, track_id: int, zone: str, inside: bool) -> DetectionEventKind | None:
        side = self._sides.setdefault((track_id, zone), _Side())
        if inside == side.inside:
            side.streak = 0
            return None
        side.streak += 1
        if side.streak < self.config.zone_debounce:
            return None
        side.inside, side.streak = inside, 0
        return DetectionEventKind.ENTER if inside else DetectionEventKind.LEAVE

    def _tally(
        self, observation: Observation, counts: dict[tuple[str, str], int]
    ) -> list[DetectionEvent]:
        interval = self.config.count_interval_s
        if interval <= 0 or not self.zones:
            return []
        if self._interval_start is None or observation.at < self._interval_start:
            self._interval_start = observation.at  # first observation, or the clock stepped back
        for key in set(self._tallies) | set(counts):
            tally = self._tallies.setdefault(key, _Tally())
            value = counts.get(key, 0)
            tally.max = max(tally.max, value)
            tally.total += value
            tally.observations += 1
        if observation.at - self._interval_start < interval:
            return []
        events = []
        for (zone, label), tally in sorted(self._tallies.items()):
            if tally.max == 0 and self._reported.get((zone, label), 0) == 0:
                continue
            events.append(
                make_event(
                    observation,
                    DetectionEventKind.COUNT,
                    label,
                    zone=zone,
                    count=tally.max,
                    data={
                        "mean": round(tally.total / max(1, tally.observations), 3),
                        "interval_s": round(observation.at - self._interval_start, 3),
                        "observations": tally.observations,
                    },
                )
            )
            self._reported[(zone, label)] = tally.max
        self._tallies = {key: _Tally() for key, tally in self._tallies.items() if tally.max > 0}
        self._interval_start = observation.at
        return events
