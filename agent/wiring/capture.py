"""Capture as the daemon runs it: a component, the targets of cloud commands, a desired-state listener."""

from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from agent.capture.config import CameraConfig
from agent.capture.service import CaptureService
from agent.capture.sources.base import VideoSource
from agent.capture.sources.factory import make_source
from agent.components import RangeClipRequest
from agent.config import AgentConfig
from agent.interfaces.sinks import ClipLedger, ClipSink
from agent.interfaces.triggers import TriggerRejected
from protocol import DesiredState

__all__ = ["CapturePart"]

log = logging.getLogger(__name__)


class CapturePart:
    """Runs :class:`CaptureService`; is the daemon's RangeClipper and RecordingControl."""

    name = "capture"

    def __init__(
        self,
        config: AgentConfig,
        clip_sink: ClipSink,
        active_session: Callable[[], UUID | None],
        *,
        source_factory: Callable[[CameraConfig], VideoSource] = make_source,
        ledger: ClipLedger | None = None,
    ) -> None:
        self.service = CaptureService(
            config,
            clip_sink,
            active_session=active_session,
            source_factory=source_factory,
            ledger=ledger,
        )
        self._active_session = active_session
        self._liveness_s = config.daemon.liveness_timeout_s
        self._configured_recording = config.recording.enabled
        self._desired_recording: bool | None = None

    # -- Component -------------------------------------------------------------------------

    def start(self) -> None:
        self.service.start()

    def stop(self, timeout_s: float) -> None:
        self.service.stop(timeout_s)

    def alive(self) -> bool:
        return self.service.alive(self._liveness_s)

    # -- RangeClipper (cloud command clip_range) ----------------------------------------------

    def clip_range(self, request: RangeClipRequest) -> list[UUID]:
        session = request.session_id or self._active_session()
        if request.camera_id is not None:
            cameras = [request.camera_id]
        else:
            cameras = sorted(self.service.runners)
        ids: list[UUID] = []
        refusals: list[str] = []
        for camera_id in cameras:
            try:
                ids.append(
                    self.service.clip_range(
                        camera_id,
                        request.start,
                        request.end,
                        request.trigger,
                        session_id=session,
                        log_id=request.log_id,
                        replaces=request.replaces,
                    )
                )
            except TriggerRejected as exc:
                if request.camera_id is not None:
                    raise
                refusals.append(str(exc))
        if not ids:
            raise TriggerRejected("; ".join(refusals) or "no cameras on this box")
        for refusal in refusals:
            log.warning("clip_range: %s", refusal)
        return ids

    # -- RecordingControl (cloud commands start_recording / stop_recording) -----------------

    def start_recording(self, camera_id: str | None) -> None:
        self._set_recording(True, camera_id)

    def stop_recording(self, camera_id: str | None) -> None:
        self._set_recording(False, camera_id)

    def _set_recording(self, enabled: bool, camera_id: str | None) -> None:
        try:
            self.service.set_recording(enabled, camera_id)
        except KeyError as exc:
            raise TriggerRejected(str(exc.args[0])) from None

    # -- desired state ---------------------------------------------------------------------

    def apply_desired(self, state: DesiredState) -> None:
        """Clip defaults always; recording only when the cloud changes its mind, so that a
        start/stop command is not undone by an unrelated revision (a new session, say)."""
        defaults = state.clip_defaults
        self.service.clip_writer.set_defaults(defaults.pre_s, defaults.post_s)
        if state.recording != self._desired_recording:
            self._desired_recording = state.recording
            enabled = self._configured_recording if state.recording is None else state.recording
            self.service.set_recording(enabled)
