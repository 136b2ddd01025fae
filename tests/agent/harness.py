"""Running the real daemon in-process, with test parts plugged in at its seams."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

from agent.components import AgentParts, CommandTargets
from agent.config import AgentConfig
from agent.daemon import Daemon
from agent.interfaces.triggers import ClipRequest, TriggerRejected
from agent.sync.objectstore import ObjectStore
from agent.systemd_notify import SystemdNotifier
from agent.wiring import PartsContext
from protocol import DesiredState, new_id


@dataclass
class FakeClipTrigger:
    """At the ClipTrigger seam: records requests and answers with new clip ids."""

    requests: list[ClipRequest] = field(default_factory=list)
    refuse_with: str | None = None

    def request_clip(self, request: ClipRequest) -> list[UUID]:
        if self.refuse_with:
            raise TriggerRejected(self.refuse_with)
        self.requests.append(request)
        return [new_id()]


@dataclass
class TestParts:
    __test__ = False

    trigger: FakeClipTrigger | None = None
    desired: list[DesiredState] = field(default_factory=list)
    context: PartsContext | None = None

    def __call__(self, context: PartsContext) -> AgentParts:
        self.context = context
        return AgentParts(
            desired_listeners=[self.desired.append],
            targets=CommandTargets(clip_trigger=self.trigger),
        )


@contextmanager
def running_daemon(
    config: AgentConfig,
    *,
    parts: TestParts | None = None,
    object_store: ObjectStore | None = None,
    notifier: SystemdNotifier | None = None,
) -> Iterator[Daemon]:
    daemon = Daemon(
        config,
        parts_factory=parts or TestParts(),
        object_store=object_store,
        notifier=notifier,
    )
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.shutdown()
