"""Webhooks through the outbox, on SQLite and PostgreSQL, against a real local HTTP
receiver: written in the change's transaction and sent only after it commits, signed
the Standard Webhooks way (checked with the package and by hand), retried with
backoff for more than a day, logged, replayable, never switched off by failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from typing import Any

import pytest
from fastapi.testclient import TestClient
from peewee import Database
from standardwebhooks import Webhook

from cloud.api.access.scope import OrgScope
from cloud.api.jobs import outbox_worker
from cloud.api.schemas.availability import SlotCreate
from cloud.api.schemas.bookings import BookingCreate
from cloud.api.services import availability, bookings
from cloud.db import write_transaction
from cloud.models import (
    OutboxAttempt,
    OutboxMessage,
    OutboxStatus,
    Role,
    User,
    WebhookSubscription,
    utc_now,
)
from cloud.outbox import Backoff, OutboxWorker
from cloud.scheduling.errors import TimeTaken
from cloud.webhooks import WEBHOOK, EventType, WebhookSender, emit
from tests.cloud.api.world import World, auth, build_world
from tests.cloud.webhook_receiver import Receiver, receiver


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as started:
        yield started


def _subscribe(
    client: TestClient, world: World, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/orgs/{world.slug}/webhooks",
        headers=auth(world.tokens[Role.ADMIN]),
        json={"url": url, "event_types": events or ["booking.created", "booking.cancelled"]},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _booking(db: Database, world: World, hour: int = 10) -> Any:
    host = OrgScope(org=world.org, user=User.get_by_id(world.user_ids[Role.HOST]), role=Role.HOST)
    slot = availability.create_slot(
        db, scope=host,
        data=SlotCreate(day_of_week=2, start_time=clock(8), end_time=clock(18),
                        duration_minutes=60, timezone="UTC"),
    )  # fmt: skip
    today = utc_now().date()
    wednesday = today + timedelta(days=(2 - today.weekday()) % 7 + 7)
    member = OrgScope(
        org=world.org, user=User.get_by_id(world.user_ids[Role.MEMBER]), role=Role.MEMBER
    )
    return bookings.create_booking(
        db, scope=member, secret=b"s",
        data=BookingCreate(slot_id=slot.id, start=datetime.combine(wednesday, clock(hour), UTC)),
    ).booking  # fmt: skip


def _worker(db: Database, **kwargs: Any) -> OutboxWorker:
    return OutboxWorker(db, {WEBHOOK: WebhookSender(timeout_s=5)}, **kwargs)


def test_a_booking_reaches_the_receiver_signed(
    db: Database, client: TestClient, hook: Receiver
) -> None:
    world = build_world(db, "alpha")
    subscription = _subscribe(client, world, hook.url)
    secret = subscription["secret"]
    assert secret.startswith("whsec_")
    listed = client.get(
        f"/api/v1/orgs/{world.slug}/webhooks", headers=auth(world.tokens[Role.ADMIN])
    )
    assert "secret" not in listed.json()["data"][0]
    booking = _booking(db, world)
    assert _worker(db).run_once() == 1
    (request,) = hook.wait_for(1)
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "booking.created" and payload["data"]["id"] == str(booking.id)
    # The signature by hand: base64 HMAC-SHA256 of "id.timestamp.body" under the secret.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode()
    expected = base64.b64encode(hmac.new(key, signed + request.body, hashlib.sha256).digest())
    assert request.headers["webhook-signature"] == f"v1,{expected.decode()}"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    tampered = request.body.replace(b"booking.created", b"booking.cancelled")
    with pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(tampered, request.headers)
    (message,) = OutboxMessage.select()
    assert request.headers["webhook-id"] == str(message.id)
    assert (message.status, message.attempts, message.last_status_code) == (
        OutboxStatus.DELIVERED, 1, 200,
    )  # fmt: skip
    # A booking that was refused announces nothing; nor do events nobody subscribed to.
    with pytest.raises(TimeTaken):
        _booking(db, world)
    assert OutboxMessage.select().count() == 1


def test_nothing_is_sent_before_the_change_commits(
    db: Database, client: TestClient, hook: Receiver
) -> None:
    world = build_world(db, "alpha")
    _subscribe(client, world, hook.url, ["session.started"])
    worker = _worker(db, poll_s=0.05)
    # Rolled back: no message at all.
    with pytest.raises(RuntimeError), write_transaction(db):
        emit(world.org.id, EventType.SESSION_STARTED, {"id": "rolled-back"})
        raise RuntimeError("the change failed")
    assert OutboxMessage.select().count() == 0
    worker.start()
    try:
        with write_transaction(db):
            emit(world.org.id, EventType.SESSION_STARTED, {"id": "committed"})
            time.sleep(0.6)  # the worker polls meanwhile: it must not see it yet
            assert hook.received == []
        (request,) = hook.wait_for(1)
    finally:
        worker.stop()
    assert json.loads(request.body)["data"]["id"] == "committed"


def test_failures_are_retried_with_backoff_for_more_than_a_day_then_replayed(
    db: Database, client: TestClient, hook: Receiver
) -> None:
    world = build_world(db, "alpha")
    subscription = _subscribe(client, world, hook.url)
    hook.answers = [500] * 1000  # the receiver is broken for good
    _booking(db, world)
    (message,) = OutboxMessage.select()
    worker = _worker(db)
    now = message.created_at
    while OutboxMessage.get_by_id(message.id).status == OutboxStatus.PENDING:
        now = OutboxMessage.get_by_id(message.id).next_attempt_at  # jump to when it is due
        assert worker.run_once(now=now) == 1
    failed = OutboxMessage.get_by_id(message.id)
    tries = list(
        OutboxAttempt.select()
        .where(OutboxAttempt.message == message.id)
        .order_by(OutboxAttempt.attempted_at)
    )
    assert failed.status == OutboxStatus.FAILED
    assert tries[-1].attempted_at - message.created_at >= timedelta(hours=24)
    assert 25 <= len(tries) <= 40 and {t.status_code for t in tries} == {500}
    gaps = [(b.attempted_at - a.attempted_at).total_seconds() for a, b in itertools.pairwise(tries)]
    assert 25 <= gaps[0] <= 35 and 50 <= gaps[1] <= 70  # 30 s, then doubling ...
    assert max(gaps) <= 3600 * 1.1  # ... up to an hour
    assert len({r.headers["webhook-id"] for r in hook.received}) == 1  # one id throughout
    # Never switched off: the subscription is enabled and says how it fails.
    admin = auth(world.tokens[Role.ADMIN])
    seen = client.get(
        f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}", headers=admin
    ).json()
    assert seen["enabled"] is True
    assert seen["health"]["failed"] == 1 and seen["health"]["last_status_code"] == 500
    assert seen["health"]["failing_since"] is not None
    log = client.get(
        f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}/deliveries", headers=admin
    ).json()
    assert [d["status"] for d in log["data"]] == ["failed"]
    # The receiver is fixed; a replay delivers it with the same webhook-id.
    hook.answers = []
    replayed = client.post(
        f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}/deliveries/{message.id}/replay",
        headers=admin,
    )
    assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
    assert worker.run_once(now=tries[-1].attempted_at + timedelta(minutes=5)) == 1
    assert hook.received[-1].headers["webhook-id"] == str(message.id)
    detail = client.get(
        f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}/deliveries/{message.id}",
        headers=admin,
    ).json()
    assert detail["status"] == "delivered" and detail["tries"][-1]["status_code"] == 200
    assert len(detail["tries"]) == len(tries) + 1 and detail["replayed_at"] is not None
    healthy = client.get(
        f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}", headers=admin
    ).json()
    assert healthy["health"]["failing_since"] is None and healthy["health"]["failed"] == 0


def test_a_flaky_receiver_gets_it_on_the_third_try(
    db: Database, client: TestClient, hook: Receiver
) -> None:
    world = build_world(db, "alpha")
    _subscribe(client, world, hook.url)
    hook.answers = [503, 500]
    _booking(db, world)
    worker = _worker(db, backoff=Backoff(first=timedelta(milliseconds=50), jitter=0))
    deadline = time.monotonic() + 20
    while OutboxMessage.get().status != OutboxStatus.DELIVERED:
        assert time.monotonic() < deadline
        worker.run_once()
        time.sleep(0.05)
    assert [t.status_code for t in OutboxAttempt.select().order_by(OutboxAttempt.attempted_at)] == [
        503,
        500,
        200,
    ]


def test_a_paused_subscription_holds_its_deliveries_a_deleted_one_drops_them(
    db: Database, client: TestClient, hook: Receiver
) -> None:
    world = build_world(db, "alpha")
    admin = auth(world.tokens[Role.ADMIN])
    subscription = _subscribe(client, world, hook.url)
    url = f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}"
    booking = _booking(db, world)
    paused = client.patch(url, headers=admin, json={"enabled": False})
    assert paused.json()["enabled"] is False
    worker = _worker(db)
    assert worker.run_once() == 1
    held = OutboxMessage.get()
    assert (held.status, held.attempts) == (OutboxStatus.PENDING, 0) and hook.received == []
    client.patch(url, headers=admin, json={"enabled": True})
    assert worker.run_once() == 1
    assert len(hook.wait_for(1)) == 1
    # Deleted: what was still to send is dropped, not retried.
    member = OrgScope(
        org=world.org, user=User.get_by_id(world.user_ids[Role.MEMBER]), role=Role.MEMBER
    )
    bookings.cancel_booking(db, scope=member, booking=booking)
    assert client.delete(url, headers=admin).status_code == 204
    worker.run_once()
    statuses = Counter(str(m.status) for m in OutboxMessage.select())
    assert statuses == Counter({"delivered": 1, "dropped": 1})


def test_two_workers_deliver_each_message_once(
    db: Database, client: TestClient, hook: Receiver
) -> None:
    world = build_world(db, "alpha")
    _subscribe(client, world, hook.url, ["session.ended"])
    with write_transaction(db):
        for n in range(30):
            emit(world.org.id, EventType.SESSION_ENDED, {"n": n})
    workers = [_worker(db, batch=4), _worker(db, batch=4)]
    done = threading.Event()

    def drain(worker: OutboxWorker) -> None:
        while not done.is_set():
            if (
                worker.run_once() == 0
                and OutboxMessage.select()
                .where(OutboxMessage.status == OutboxStatus.PENDING)
                .count()
                == 0
            ):
                done.set()

    threads = [threading.Thread(target=drain, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    ids = Counter(r.headers["webhook-id"] for r in hook.received)
    assert len(ids) == 30 and set(ids.values()) == {1}


def test_events_of_the_lifecycles(db: Database, client: TestClient, hook: Receiver) -> None:
    world = build_world(db, "alpha")
    events = ["booking.created", "booking.cancelled", "booking.rescheduled", "booking.no_show",
              "session.started", "session.ended", "session.cancelled", "attendance.marked"]  # fmt: skip
    _subscribe(client, world, hook.url, events)
    coach = auth(world.tokens[Role.COACH])
    booking = _booking(db, world, hour=9)
    member = OrgScope(
        org=world.org, user=User.get_by_id(world.user_ids[Role.MEMBER]), role=Role.MEMBER
    )
    moved = bookings.reschedule_booking(
        db, scope=member, booking=booking, secret=b"s",
        data=bookings.BookingReschedule(start=booking.starts_at + timedelta(hours=2)),
    ).booking  # fmt: skip
    host = OrgScope(org=world.org, user=User.get_by_id(world.user_ids[Role.HOST]), role=Role.HOST)
    bookings.mark_booking(
        db, scope=host, booking=moved, status=bookings.BookingStatus.NO_SHOW,
        now=moved.starts_at + timedelta(minutes=10),
    )  # fmt: skip
    session = world.session
    client.post(
        f"/api/v1/orgs/{world.slug}/sessions/{session.id}/participants/{world.participant.id}/join",
        headers=coach, json={},
    )  # fmt: skip
    client.post(f"/api/v1/orgs/{world.slug}/sessions/{session.id}/end", headers=coach)
    client.post(f"/api/v1/orgs/{world.slug}/sessions/{world.draft.id}/start", headers=coach)
    client.post(
        f"/api/v1/orgs/{world.slug}/sessions/{world.draft.id}/cancel", headers=coach, json={}
    )
    assert outbox_worker(db).run_once() == 7
    got = [json.loads(r.body) for r in hook.wait_for(7)]
    assert Counter(p["type"] for p in got) == Counter(
        {
            "booking.created": 1,
            "booking.rescheduled": 1,
            "booking.no_show": 1,
            "attendance.marked": 1,
            "session.ended": 1,
            "session.started": 1,
            "session.cancelled": 1,
        }
    )
    rescheduled = next(p for p in got if p["type"] == "booking.rescheduled")
    assert rescheduled["data"]["from"]["id"] == str(booking.id)
    assert rescheduled["data"]["to"]["id"] == str(moved.id)
    assert len({p["event_id"] for p in got}) == 7


def test_ping_and_rotate(db: Database, client: TestClient, hook: Receiver) -> None:
    world = build_world(db, "alpha")
    admin = auth(world.tokens[Role.ADMIN])
    subscription = _subscribe(client, world, hook.url)
    url = f"/api/v1/orgs/{world.slug}/webhooks/{subscription['id']}"
    rotated = client.post(f"{url}/rotate-secret", headers=admin).json()["secret"]
    assert rotated != subscription["secret"]
    assert client.post(f"{url}/ping", headers=admin).status_code == 202
    _worker(db).run_once()
    (request,) = hook.wait_for(1)
    assert Webhook(rotated).verify(request.body, request.headers)["type"] == "webhook.ping"
    assert WebhookSubscription.get_by_id(subscription["id"]).secret == rotated
    bad = client.post(
        f"/api/v1/orgs/{world.slug}/webhooks", headers=admin,
        json={"url": "ftp://x", "event_types": ["booking.created"]},
    )  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["path"] == "body.url"
    unknown = client.post(
        f"/api/v1/orgs/{world.slug}/webhooks", headers=admin,
        json={"url": hook.url, "event_types": ["booking.exploded"]},
    )  # fmt: skip
    assert unknown.status_code == 422
    assert unknown.json()["error"]["fields"][0]["path"].startswith("body.event_types")
