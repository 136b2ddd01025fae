"""The side-effect outbox: announce a change in its own transaction, carry it out after.

A change that must reach the outside world (a webhook, later a tag sent on, a
device command) is written as an :class:`~cloud.models.OutboxMessage` **in the
same transaction as the change** (:func:`enqueue`). Nothing is sent while the
transaction is open; a rolled-back change leaves no message. A worker
(:class:`OutboxWorker`, running in the API process or ``sideline cloud jobs``)
claims due messages, hands each to the handler of its ``kind`` *after* commit,
logs every attempt (:class:`~cloud.models.OutboxAttempt`) and retries failures
with exponential backoff (:class:`Backoff`, by default for 25 hours). A message
that still fails then is ``failed`` — visible, never silently dropped — and
:func:`replay` sends it again with the same id. docs/outbox.md says more.

    with write_transaction(db):
        change_something()
        enqueue(kind="webhook", target=str(subscription.id), payload={...}, org_id=org.id)
    wake()  # optional: the worker looks now instead of at its next poll
"""

from cloud.outbox.backoff import Backoff
from cloud.outbox.store import enqueue, replay, wake
from cloud.outbox.worker import Delivery, Handler, OutboxWorker

__all__ = ["Backoff", "Delivery", "Handler", "OutboxWorker", "enqueue", "replay", "wake"]
