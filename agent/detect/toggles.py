"""Which cameras run detection and which classes they report.

The box's config is the baseline; the cloud's desired state
(:class:`protocol.DetectionToggles`) can only narrow it: a camera runs when
both enable it, and its classes are the intersection of every list given
(config, cloud-wide, cloud per camera). Read from capture's thread (is this
camera on?) and written from the control thread: each update replaces whole
immutable values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from agent.detect.config import DetectConfig
from protocol import DetectionToggles

__all__ = ["Toggles"]

log = logging.getLogger(__name__)


class Toggles:
    def __init__(self, config: DetectConfig, camera_ids: list[str]) -> None:
        self.config = config
        self.camera_ids = list(camera_ids)
        self._desired = DetectionToggles()
        self._model_classes: tuple[str, ...] = ()
        self._enabled: dict[str, bool] = {}
        self._classes: dict[str, frozenset[str] | None] = {}
        self._recompute()

    def set_model_classes(self, classes: Sequence[str]) -> None:
        self._model_classes = tuple(classes)
        self._recompute()

    def apply(self, desired: DetectionToggles) -> None:
        self._desired = desired
        self._recompute()

    def camera_enabled(self, camera_id: str) -> bool:
        return self._enabled.get(camera_id, False)

    def classes(self, camera_id: str) -> set[str] | None:
        """Enabled class names for the camera; None means every class of the model."""
        found = self._classes.get(camera_id)
        return None if found is None else set(found)

    def _recompute(self) -> None:
        enabled: dict[str, bool] = {}
        classes: dict[str, frozenset[str] | None] = {}
        desired = self._desired
        for camera_id in self.camera_ids:
            local = self.config.camera(camera_id)
            remote = desired.cameras.get(camera_id)
            enabled[camera_id] = (
                local.enabled and desired.enabled and (remote is None or remote.enabled)
            )
            allowed: frozenset[str] | None = None
            for names in (
                self.config.classes,
                local.classes,
                desired.classes,
                remote.classes if remote is not None else None,
            ):
                if names is None:
                    continue
                allowed = frozenset(names) if allowed is None else allowed & frozenset(names)
            classes[camera_id] = allowed
            if allowed is not None and self._model_classes:
                unknown = sorted(allowed - set(self._model_classes))
                if unknown:
                    log.warning(
                        "camera %s: classes %s are not in the model (its classes: %s); ignored",
                        camera_id,
                        ", ".join(unknown),
                        ", ".join(self._model_classes),
                    )
        self._enabled, self._classes = enabled, classes
