"""A small IoU tracker that gives objects stable ids across inferences.

Detection runs at a few frames per second, so a kicked ball moves far between
two inferences. Each track therefore predicts its box from its velocity, and
matching is greedy on the overlap with that prediction, falling back to the
nearest centre within ``max_jump`` box sizes when nothing overlaps. Tracks are matched
within their class only. A track is confirmed after ``min_hits`` detections
(only confirmed tracks make events) and ends after ``max_missed`` inferences
in which it was looked for and not found; where the detector did not look (a
motion crop elsewhere, a still frame) it is not counted as missed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from agent.detect.config import TrackerConfig
from agent.detect.detector import Detections
from agent.detect.nms import iou_matrix

__all__ = ["Track", "TrackUpdate", "Tracker"]

FloatArray = npt.NDArray[np.float32]
Region = tuple[int, int, int, int]


@dataclass(eq=False)
class Track:
    id: int
    label: str
    box: FloatArray  # x1, y1, x2, y2 in source pixels
    score: float
    first_seen: float
    last_seen: float
    hits: int = 1
    missed: int = 0
    confirmed: bool = False
    velocity: FloatArray = field(default_factory=lambda: np.zeros(4, dtype=np.float32))

    def predict(self, at: float) -> FloatArray:
        return self.box + self.velocity * max(0.0, at - self.last_seen)


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    tracks: list[Track]  # alive after this update (confirmed or not)
    ended: list[Track]  # ended by this update
    newly_confirmed: list[Track]


class Tracker:
    """One per camera; used from the detection thread only."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def reset(self) -> list[Track]:
        """Forget every track (e.g. the model changed); returns the tracks that ended."""
        ended, self._tracks = self._tracks, []
        return ended

    def update(
        self, detections: Detections, at: float, looked_at: Region | None = None
    ) -> TrackUpdate:
        """Match ``detections`` made at time ``at``; ``looked_at`` is the region searched."""
        matched_tracks: set[int] = set()
        matched_detections: set[int] = set()
        newly_confirmed: list[Track] = []
        labels = [detections.label(i) for i in range(len(detections))]
        for label in set(labels) | {t.label for t in self._tracks}:
            tracks = [i for i, t in enumerate(self._tracks) if t.label == label]
            dets = [i for i, name in enumerate(labels) if name == label]
            for ti, di in self._match(tracks, dets, detections.boxes, at):
                track = self._tracks[ti]
                self._refresh(track, detections.boxes[di], float(detections.scores[di]), at)
                if not track.confirmed and track.hits >= self.config.min_hits:
                    track.confirmed = True
                    newly_confirmed.append(track)
                matched_tracks.add(ti)
                matched_detections.add(di)
        ended: list[Track] = []
        alive: list[Track] = []
        for index, track in enumerate(self._tracks):
            if index not in matched_tracks and self._was_visible(track, at, looked_at, detections):
                track.missed += 1
            if track.missed > self.config.max_missed:
                ended.append(track)
            else:
                alive.append(track)
        for index in range(len(detections)):
            if index in matched_detections:
                continue
            track = Track(
                id=self._next_id,
                label=labels[index],
                box=detections.boxes[index].astype(np.float32).copy(),
                score=float(detections.scores[index]),
                first_seen=at,
                last_seen=at,
            )
            self._next_id += 1
            if self.config.min_hits <= 1:
                track.confirmed = True
                newly_confirmed.append(track)
            alive.append(track)
        self._tracks = alive
        return TrackUpdate(list(alive), ended, newly_confirmed)

    def _match(
        self, tracks: list[int], dets: list[int], boxes: FloatArray, at: float
    ) -> list[tuple[int, int]]:
        if not tracks or not dets:
            return []
        predicted = np.stack([self._tracks[i].predict(at) for i in tracks]).astype(np.float32)
        candidates = boxes[dets].astype(np.float32)
        affinity = iou_matrix(predicted, candidates)
        affinity[affinity < self.config.iou_threshold] = 0.0
        # No overlap: the nearest centre within max_jump box sizes still matches, ranked below any overlap.
        centres_t = (predicted[:, :2] + predicted[:, 2:]) / 2
        centres_d = (candidates[:, :2] + candidates[:, 2:]) / 2
        distance = np.linalg.norm(centres_t[:, None, :] - centres_d[None, :, :], axis=2)
        size = self.config.max_jump * np.maximum(
            predicted[:, 2] - predicted[:, 0], predicted[:, 3] - predicted[:, 1]
        )
        near = (affinity == 0) & (distance < size[:, None])
        affinity[near] = 1e-3 * (1.0 - distance[near] / size[:, None].repeat(len(dets), 1)[near])
        pairs: list[tuple[int, int]] = []
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in np.argsort(-affinity, axis=None):
            t, d = divmod(int(flat), len(dets))
            if affinity[t, d] <= 0:
                break
            if t in used_t or d in used_d:
                continue
            used_t.add(t)
            used_d.add(d)
            pairs.append((tracks[t], dets[d]))
        return pairs

    @staticmethod
    def _refresh(track: Track, box: FloatArray, score: float, at: float) -> None:
        dt = at - track.last_seen
        if dt > 0:
            observed = (box - track.box) / dt
            # Smoothed, so one jittery box does not fling the prediction.
            track.velocity = (0.5 * track.velocity + 0.5 * observed).astype(np.float32)
        track.box = box.astype(np.float32).copy()
        track.score = score
        track.last_seen = at
        track.hits += 1
        track.missed = 0

    @staticmethod
    def _was_visible(track: Track, at: float, looked_at: Region | None, frame: Detections) -> bool:
        """Whether the detector looked where the track should be."""
        x1, y1, x2, y2 = track.predict(at)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        if looked_at is None:
            return True
        x, y, w, h = looked_at
        return bool(x <= cx <= x + w and y <= cy <= y + h)
