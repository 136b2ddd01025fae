"""One-shot cloud commands: check, run once, acknowledge.

Refused (with the reason in the ack): a payload that does not decode (unknown
fields, wrong types — if its command id can be read, otherwise only logged), a
command for another device, a duplicate (by command id, remembered across
restarts), an expired one. Everything else is dispatched to its
:class:`agent.components.CommandTargets` entry and acknowledged ``done`` with
its result (clip ids), ``refused`` when the target says it cannot
(``TriggerRejected``) or ``failed`` with the error.

The command id is committed before the command runs, and its ack afterwards;
an ack is re-published on every connection until the broker accepts it, and a
command a crash interrupted is acknowledged as failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from agent.buffer.control import HANDLING
from agent.buffer.store import LocalStore
from agent.clock import Clock, utc_from
from agent.components import CommandTargets, RangeClipRequest
from agent.interfaces.triggers import ClipRequest, TriggerRejected
from agent.sync.downlink import Misaddressed, decode_for
from agent.sync.link_types import DeliveryOutcome, Link, PublishRequest
from protocol import (
    AckStatus,
    Channel,
    ClipRange,
    Command,
    CommandAck,
    ProtocolError,
    ReloadConfig,
    StartRecording,
    StopRecording,
    Trigger,
    TriggerClip,
    TriggerSource,
    encode,
)

__all__ = ["CommandProcessor"]

log = logging.getLogger(__name__)

_KEEP_HANDLED_S = 24 * 3600.0  # after expiry; a copy arriving later is refused as expired


class _Outcome:
    def __init__(
        self, status: AckStatus, reason: str | None = None, result: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.reason = reason
        self.result = result or {}


class CommandProcessor:
    def __init__(
        self,
        store: LocalStore,
        link: Link,
        targets: CommandTargets,
        *,
        clock: Clock,
        active_session: Callable[[], UUID | None],
    ) -> None:
        self._store = store
        self._link = link
        self._targets = targets
        self._clock = clock
        self._active_session = active_session
        self._org = store.identity.org
        self._device_id = store.identity.device_id
        self.handled = 0
        self.refused = 0
        # Where follow-up work goes (the control thread's queue): an ack's PUBACK
        # arrives on the link's thread, which must not write to the store.
        self.defer: Callable[[Callable[[], None]], None] = lambda work: work()

    def handle(self, payload: bytes) -> None:
        now = self._clock.time()
        try:
            command = decode_for(
                Command, payload, what="command", org=self._org, device_id=self._device_id
            )
        except Misaddressed as exc:
            other = exc.message
            assert isinstance(other, Command)
            self._refuse(other.command_id, str(exc), expires_at=other.expires_at.timestamp())
            return
        except ProtocolError as exc:
            self._refuse_undecodable(payload, exc, now)
            return
        if not self._store.commands.claim(
            command.command_id, received_at=now, expires_at=command.expires_at.timestamp()
        ):
            earlier = self._store.commands.get(command.command_id)
            when = _iso(earlier.received_at) if earlier else "before"
            status = earlier.status if earlier else "?"
            self._refuse(
                command.command_id, f"duplicate: handled at {when} ({status})", record=False
            )
            return
        if command.expires_at.timestamp() <= now:
            self._finish(
                command.command_id,
                _Outcome(
                    AckStatus.REFUSED,
                    f"expired at {_iso(command.expires_at.timestamp())}; device time is {_iso(now)}",
                ),
            )
            return
        self._finish(command.command_id, self._dispatch(command))

    def report_error(self, exc: BaseException) -> None:
        self._store.report_error(exc)

    def republish_pending(self) -> None:
        """On (re)connect: acks the broker has not accepted, and commands a crash interrupted."""
        for handled in self._store.commands.unpublished():
            if handled.status == HANDLING:
                self._finish(
                    handled.command_id,
                    _Outcome(
                        AckStatus.FAILED, "interrupted: the agent restarted while handling it"
                    ),
                )
            else:
                self._publish(handled.command_id, handled.ack_body.encode())
        self._store.commands.prune(self._clock.time() - _KEEP_HANDLED_S)

    # --- dispatch ------------------------------------------------------------

    def _dispatch(self, command: Command) -> _Outcome:
        body = command.command
        try:
            if isinstance(body, TriggerClip):
                return self._trigger_clip(command, body)
            if isinstance(body, ClipRange):
                return self._clip_range(command, body)
            if isinstance(body, StartRecording | StopRecording):
                return self._recording(body)
            if isinstance(body, ReloadConfig):
                return self._reload()
        except TriggerRejected as exc:
            return _Outcome(AckStatus.REFUSED, str(exc))
        except Exception as exc:  # the target failed; say so, keep running
            log.exception("command %s (%s) failed", command.command_id, body.type)
            return _Outcome(AckStatus.FAILED, f"{type(exc).__name__}: {exc}")
        return _Outcome(AckStatus.REFUSED, f"unknown command type {body.type!r}")

    def _cloud_trigger(
        self, command: Command, at: datetime | None, by: str | None, note: str | None
    ) -> Trigger:
        return Trigger(
            source=TriggerSource.CLOUD,
            at=at or utc_from(self._clock),
            by=by,
            note=note,
            command_id=command.command_id,
        )

    def _trigger_clip(self, command: Command, body: TriggerClip) -> _Outcome:
        if self._targets.clip_trigger is None:
            return _Outcome(AckStatus.FAILED, "no camera capture is running on this device")
        request = ClipRequest(
            trigger=self._cloud_trigger(command, body.at, body.requested_by, body.note),
            camera_id=body.camera_id,
            pre_s=body.pre_s,
            post_s=body.post_s,
            session_id=body.session_id or self._active_session(),
        )
        clip_ids = self._targets.clip_trigger.request_clip(request)
        return _Outcome(AckStatus.DONE, result={"clip_ids": [str(i) for i in clip_ids]})

    def _clip_range(self, command: Command, body: ClipRange) -> _Outcome:
        if self._targets.range_clipper is None:
            return _Outcome(
                AckStatus.FAILED, "continuous recording is not available on this device"
            )
        request = RangeClipRequest(
            trigger=self._cloud_trigger(
                command, body.at or body.start, body.requested_by, body.note
            ),
            start=body.start,
            end=body.end,
            camera_id=body.camera_id,
            session_id=body.session_id or self._active_session(),
            log_id=body.log_id,
            replaces=body.replaces,
        )
        clip_ids = self._targets.range_clipper.clip_range(request)
        return _Outcome(AckStatus.DONE, result={"clip_ids": [str(i) for i in clip_ids]})

    def _recording(self, body: StartRecording | StopRecording) -> _Outcome:
        if self._targets.recording is None:
            return _Outcome(AckStatus.FAILED, "recording control is not available on this device")
        if isinstance(body, StartRecording):
            self._targets.recording.start_recording(body.camera_id)
        else:
            self._targets.recording.stop_recording(body.camera_id)
        return _Outcome(AckStatus.DONE)

    def _reload(self) -> _Outcome:
        if self._targets.reload_config is None:
            return _Outcome(AckStatus.FAILED, "this agent cannot reload its configuration")
        return _Outcome(AckStatus.DONE, result={"message": self._targets.reload_config()})

    # --- acks ----------------------------------------------------------------

    def _refuse_undecodable(self, payload: bytes, exc: ProtocolError, now: float) -> None:
        command_id = _readable_command_id(payload)
        if command_id is None:
            log.error("ignored a command without a readable command id: %s", exc)
            return
        log.error("refused command %s: %s", command_id, exc)
        self._refuse(command_id, str(exc), expires_at=now + _KEEP_HANDLED_S)

    def _refuse(
        self, command_id: UUID, reason: str, *, expires_at: float | None = None, record: bool = True
    ) -> None:
        self.refused += 1
        log.warning("refused command %s: %s", command_id, reason)
        if record and self._store.commands.claim(
            command_id, received_at=self._clock.time(), expires_at=expires_at or self._clock.time()
        ):
            self._finish(command_id, _Outcome(AckStatus.REFUSED, reason), count=False)
        else:
            self._publish(command_id, self._ack(command_id, _Outcome(AckStatus.REFUSED, reason)))

    def _finish(self, command_id: UUID, outcome: _Outcome, *, count: bool = True) -> None:
        ack = self._ack(command_id, outcome)
        self._store.commands.finish(command_id, outcome.status.value, ack.decode())
        if count:
            self.handled += 1
        self._publish(command_id, ack)

    def _ack(self, command_id: UUID, outcome: _Outcome) -> bytes:
        return encode(
            CommandAck(
                org=self._org,
                device_id=self._device_id,
                command_id=command_id,
                status=outcome.status,
                reason=(outcome.reason or None) and outcome.reason[:500],
                result=outcome.result,
            )
        )

    def _publish(self, command_id: UUID, ack: bytes) -> None:
        def delivered(outcome: DeliveryOutcome, detail: str) -> None:
            if outcome is DeliveryOutcome.DELIVERED:
                self.defer(lambda: self._store.commands.mark_ack_published(command_id))

        self._link.publish(PublishRequest(Channel.ACKS, ack, qos=1, on_outcome=delivered))


def _readable_command_id(payload: bytes) -> UUID | None:
    try:
        raw = json.loads(payload)
        return UUID(str(raw["command_id"])) if isinstance(raw, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
