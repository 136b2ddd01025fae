"""The retained desired state: keep the newest revision, tell the listeners.

The broker re-delivers the retained message on every subscription, and an old
one may linger after a cloud restore, so a revision not above the stored one is
ignored. The stored state is given to the listeners at start-up: a box that
boots offline still knows its active session and detection toggles.
"""

from __future__ import annotations

import logging
from uuid import UUID

from agent.buffer.store import LocalStore
from agent.clock import Clock
from agent.components import DesiredStateListener
from agent.sync.downlink import Misaddressed, decode_for
from protocol import DesiredState, ProtocolError, decode_as

__all__ = ["DesiredStateKeeper"]

log = logging.getLogger(__name__)


class DesiredStateKeeper:
    def __init__(
        self, store: LocalStore, listeners: list[DesiredStateListener], *, clock: Clock
    ) -> None:
        self._store = store
        self._listeners = listeners
        self._clock = clock
        self._current: DesiredState | None = None

    @property
    def current(self) -> DesiredState | None:
        return self._current

    def active_session(self) -> UUID | None:
        current = self._current
        return current.session.session_id if current and current.session else None

    def load(self) -> None:
        stored = self._store.desired.load()
        if stored is None:
            return
        try:
            self._current = decode_as(
                DesiredState, stored.body.encode(), what="stored desired state"
            )
        except ProtocolError as exc:
            log.error(
                "the stored desired state no longer decodes (%s); waiting for the cloud's", exc
            )
            return
        log.info("desired state revision %d (stored)", self._current.revision)
        self._notify(self._current)

    def handle(self, payload: bytes) -> None:
        identity = self._store.identity
        if not payload:
            # An empty retained message is how a broker's retained state is deleted; the box
            # keeps what it has rather than forgetting its session.
            log.info("the broker's retained desired state was cleared; keeping ours")
            return
        try:
            state = decode_for(
                DesiredState,
                payload,
                what="desired state",
                org=identity.org,
                device_id=identity.device_id,
            )
        except Misaddressed as exc:
            log.error("ignored a %s", exc)
            return
        except ProtocolError as exc:
            log.error("ignored a desired state that does not decode: %s", exc)
            return
        if not self._store.desired.save_if_newer(
            state.revision, payload.decode(), self._clock.time()
        ):
            have = self._current.revision if self._current else None
            if have is not None and state.revision < have:
                log.warning("ignored desired state revision %d: we have %d", state.revision, have)
            return
        log.info("desired state revision %d", state.revision)
        self._current = state
        self._notify(state)

    def _notify(self, state: DesiredState) -> None:
        for listener in self._listeners:
            try:
                listener(state)
            except Exception:
                log.exception("a desired-state listener failed")
