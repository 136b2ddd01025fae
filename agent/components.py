"""What the daemon expects from the parts it runs, and what capture and detection hand it.

The daemon owns lifetimes. Every long-running part is a :class:`Component`:
``start()`` returns once it runs, ``stop(timeout_s)`` drains and returns within
the bound, and ``alive()`` is true only while its loop is actually turning
(the systemd watchdog is fed from these). Capture and detection plug in through
:class:`AgentParts`: their components, health providers for the heartbeat,
listeners for the cloud's desired state, and the targets of cloud commands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agent.interfaces.triggers import ClipTrigger, RangeClipper, RangeClipRequest
from protocol import CameraHealth, DesiredState, DetectionHealth

__all__ = [
    "AgentParts",
    "CameraHealthProvider",
    "CommandTargets",
    "Component",
    "DesiredStateListener",
    "DetectionHealthProvider",
    "LeftOut",
    "RangeClipRequest",
    "RangeClipper",
    "RecordingControl",
]


class Component(Protocol):
    @property
    def name(self) -> str: ...

    def start(self) -> None:
        """Start the component's threads; return once it is running (raise if it cannot)."""
        ...

    def stop(self, timeout_s: float) -> None:
        """Finish in-flight work (flush clips, commit records) and stop within ``timeout_s``."""
        ...

    def alive(self) -> bool:
        """True only while the component's loops have ticked recently (a hung loop is not alive)."""
        ...


CameraHealthProvider = Callable[[], Sequence[CameraHealth]]
DetectionHealthProvider = Callable[[], Sequence[DetectionHealth]]
DesiredStateListener = Callable[[DesiredState], None]
"""Called with the current desired state at start-up and on every newer revision. Must
return quickly (it runs on the sync control thread)."""


class RecordingControl(Protocol):
    def start_recording(self, camera_id: str | None) -> None: ...

    def stop_recording(self, camera_id: str | None) -> None: ...


@dataclass
class CommandTargets:
    """Who carries out each cloud command. A missing target makes the command fail with a
    clear reason ("no capture running on this device") instead of being dropped."""

    clip_trigger: ClipTrigger | None = None
    range_clipper: RangeClipper | None = None
    recording: RecordingControl | None = None
    reload_config: Callable[[], str] | None = None  # returns what it did; raises ConfigError


class LeftOut:
    """The parts that could not start and were left out (a busy port or pin), with why: the
    daemon records them, the status page and the LED say so while the rest runs on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parts: dict[str, str] = {}

    def add(self, name: str, reason: str) -> None:
        with self._lock:
            self._parts[name] = reason

    def items(self) -> list[tuple[str, str]]:
        with self._lock:
            return sorted(self._parts.items())


@dataclass
class AgentParts:
    """Everything capture, detection and triggers give the daemon."""

    components: list[Component] = field(default_factory=list)
    camera_health: list[CameraHealthProvider] = field(default_factory=list)
    detection_health: list[DetectionHealthProvider] = field(default_factory=list)
    desired_listeners: list[DesiredStateListener] = field(default_factory=list)
    targets: CommandTargets = field(default_factory=CommandTargets)

    def extend(self, other: AgentParts) -> None:
        self.components.extend(other.components)
        self.camera_health.extend(other.camera_health)
        self.detection_health.extend(other.detection_health)
        self.desired_listeners.extend(other.desired_listeners)
        for name in ("clip_trigger", "range_clipper", "recording", "reload_config"):
            value = getattr(other.targets, name)
            if value is not None:
                setattr(self.targets, name, value)
