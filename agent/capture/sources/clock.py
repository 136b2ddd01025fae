"""Mapping a stream's presentation timestamps to UTC wall-clock time.

A camera's timestamps are smooth but start anywhere and may drift from the
box's clock; arrival times are on the box's clock but jitter with the network.
:class:`PresentationClock` anchors the first frame of a stream to its arrival
time and then follows the stream's own timestamps, so that the frames of a clip
stay evenly spaced. When the two clocks drift apart by more than ``max_drift_s``
(a camera clock running fast, a burst delivered late) it re-anchors and counts
it. Sources that replay faster than real time (files in tests and benchmarks)
pass ``follow_arrival=False`` and keep the first anchor for the whole stream.
"""

from __future__ import annotations

__all__ = ["PresentationClock"]


class PresentationClock:
    def __init__(self, *, max_drift_s: float = 1.0, follow_arrival: bool = True) -> None:
        self._max_drift_s = max_drift_s
        self._follow_arrival = follow_arrival
        self._offset: float | None = None
        self.reanchors = 0

    def reset(self) -> None:
        """Forget the anchor (a new stream's timestamps start elsewhere)."""
        self._offset = None

    def wall_time(self, presentation_s: float, arrival: float) -> float:
        """UTC seconds for a frame presented at ``presentation_s`` (stream seconds)."""
        if self._offset is None:
            self._offset = arrival - presentation_s
        mapped = presentation_s + self._offset
        if self._follow_arrival and abs(arrival - mapped) > self._max_drift_s:
            self._offset = arrival - presentation_s
            self.reanchors += 1
            mapped = arrival
        return mapped
