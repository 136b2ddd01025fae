"""Rules that fire the clip trigger: "ball enters goal", "more than 6 people in the box".

``enter`` fires when a confirmed track of one of the rule's classes enters the
zone (or the frame, with no zone). ``count_above`` fires when more than
``count`` such objects have been in the zone for ``for_s`` seconds, and then
re-arms only once the count has dropped back. Both respect ``cooldown_s``
between firings. A rule's event names the clip the trigger started; when the
trigger refuses or fails, the event still records the rule firing, with the
reason, and detection carries on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pydantic import JsonValue

from agent.detect.config import RuleConfig
from agent.detect.events import Observation, make_event, utc
from agent.detect.tracker import Track
from agent.interfaces.triggers import ClipRequest, ClipTrigger, TriggerRejected
from protocol import DetectionEvent, DetectionEventKind, Trigger, TriggerSource

__all__ = ["RuleEngine"]

log = logging.getLogger(__name__)


@dataclass
class _RuleState:
    last_fired: float | None = None
    condition_since: float | None = None
    armed: bool = True


class RuleEngine:
    """The rules of one camera; used from the detection thread only."""

    def __init__(
        self, camera_id: str, rules: list[RuleConfig], trigger: ClipTrigger | None
    ) -> None:
        self.camera_id = camera_id
        self.rules = [r for r in rules if r.camera_id in (None, camera_id)]
        self.trigger = trigger
        self._state = {rule.name: _RuleState() for rule in self.rules}
        self.fired = 0

    def evaluate(
        self,
        observation: Observation,
        zone_events: list[DetectionEvent],
        counts: dict[tuple[str, str], int],
    ) -> list[DetectionEvent]:
        events: list[DetectionEvent] = []
        for rule in self.rules:
            state = self._state[rule.name]
            if rule.kind == "enter":
                for label, track in self._entries(rule, observation, zone_events):
                    if (not rule.classes or label in rule.classes) and self._cooled(
                        rule, state, observation.at
                    ):
                        events.append(self._fire(rule, state, observation, label, track))
            else:
                assert rule.zone is not None  # validated in the config
                count = sum(
                    n
                    for (zone, label), n in counts.items()
                    if zone == rule.zone and (not rule.classes or label in rule.classes)
                )
                if count <= rule.count:
                    state.condition_since = None
                    state.armed = True
                    continue
                if state.condition_since is None:
                    state.condition_since = observation.at
                held = observation.at - state.condition_since
                if state.armed and held >= rule.for_s and self._cooled(rule, state, observation.at):
                    state.armed = False
                    label = rule.classes[0] if len(rule.classes) == 1 else "any"
                    events.append(self._fire(rule, state, observation, label, None, count=count))
        return events

    @staticmethod
    def _entries(
        rule: RuleConfig, observation: Observation, zone_events: list[DetectionEvent]
    ) -> list[tuple[str, Track | None]]:
        """What entered the rule's zone (or, with no zone, the frame) in this observation."""
        if rule.zone is None:
            return [(t.label, t) for t in observation.newly_confirmed]
        by_id = {t.id: t for t in observation.tracks}
        return [
            (e.label, by_id.get(e.track_id) if e.track_id is not None else None)
            for e in zone_events
            if e.kind == DetectionEventKind.ENTER and e.zone == rule.zone
        ]

    @staticmethod
    def _cooled(rule: RuleConfig, state: _RuleState, at: float) -> bool:
        if state.last_fired is None or at < state.last_fired:  # never, or the clock stepped back
            return True
        return at - state.last_fired >= rule.cooldown_s

    def _fire(
        self,
        rule: RuleConfig,
        state: _RuleState,
        observation: Observation,
        label: str,
        track: Track | None,
        count: int | None = None,
    ) -> DetectionEvent:
        state.last_fired = observation.at
        self.fired += 1
        clip_id = None
        data: dict[str, JsonValue] = {"kind": rule.kind}
        if rule.clip and self.trigger is not None:
            what = "entered" if rule.kind == "enter" else f"more than {rule.count} in"
            request = ClipRequest(
                trigger=Trigger(
                    source=TriggerSource.RULE,
                    at=utc(observation.at),
                    by=rule.name,
                    note=f"{label} {what} {rule.zone or 'the frame'}",
                ),
                camera_id=self.camera_id,
                pre_s=rule.pre_s,
                post_s=rule.post_s,
            )
            try:
                clip_ids = self.trigger.request_clip(request)
                clip_id = clip_ids[0] if clip_ids else None
            except TriggerRejected as exc:
                log.warning(
                    "rule %s on camera %s: clip refused: %s", rule.name, self.camera_id, exc
                )
                data["clip_error"] = str(exc)[:200]
            except Exception as exc:  # a failing clip writer must not stop detection
                log.exception(
                    "rule %s on camera %s: clip trigger failed", rule.name, self.camera_id
                )
                data["clip_error"] = f"{type(exc).__name__}: {exc}"[:200]
        return make_event(
            observation,
            DetectionEventKind.RULE,
            label,
            track,
            zone=rule.zone,
            rule=rule.name,
            count=count,
            clip_id=clip_id,
            data=data,
        )
