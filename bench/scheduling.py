"""Scheduling on PostgreSQL: no double booking under concurrency, bookable times, series.

    python bench/scheduling.py [--only concurrency|bookable|series] [--requests 50]

- **concurrency**: ``--requests`` simultaneous bookings of one time through a real
  uvicorn server (threads released by one barrier, each its own HTTP connection
  and member), then as many of partly overlapping times (one slot per start
  minute, every hour-long booking overlapping every other). Limit: exactly 1
  confirmed, the rest ``409 time_taken``, one row.
- **bookable**: bookable times of one host over 60 days (weekday slots of 30
  minutes with buffers and a daily limit) with 500 confirmed bookings and 5 date
  overrides, through the ASGI app (routing, auth, scoping, queries, JSON).
  Limits: p50 <= 20 ms, p99 <= 50 ms; also the queries alone and the computation alone.
- **series**: a weekly series of two years (104 occurrences) created through the
  ASGI app with its conflict check against a host who already has 300 busy rows.
  Limit: <= 200 ms (p50 and max over the runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import uvicorn
from peewee import Database
from pydantic import SecretStr

from bench.api_timeline import AsgiCaller, NoBroker, percentile
from cloud.api.access.scope import OrgScope
from cloud.api.app import create_app
from cloud.api.runtime import ApiRuntime
from cloud.api.schemas.availability import (
    BookingSettingsUpdate,
    OverrideCreate,
    SlotCreate,
)
from cloud.api.schemas.bookings import BookingCreate
from cloud.api.services import availability, bookings
from cloud.api.services.accounts import (
    add_membership,
    create_organisation,
    find_or_create_user,
    issue_token,
)
from cloud.config import ApiConfig, CloudConfig
from cloud.db import open_database
from cloud.devices.control import DeviceControl
from cloud.migrations import migrate
from cloud.models import (
    Booking,
    BookingStatus,
    BusyKind,
    HostBusy,
    OverrideKind,
    Role,
    User,
    utc_now,
)
from cloud.object_store import S3Credentials, SigV4UrlSigner
from cloud.scheduling.busy import busy_spans, host_limits
from sideline.services.postgres import (
    DEFAULT_ADMIN_URL,
    PostgresCluster,
    TemporaryDatabase,
    server_answers,
)
from sideline.services.process import free_port

BOOKABLE_P50_MS, BOOKABLE_P99_MS = 20.0, 50.0
SERIES_LIMIT_MS = 200.0
SECRET = b"bench-secret"


def _runtime(db: Database) -> ApiRuntime:
    signer = SigV4UrlSigner(
        endpoint_url="http://127.0.0.1:9/",
        bucket="bench",
        region="us-east-1",
        credentials=S3Credentials("k", "s"),
        expires_in=600,
    )
    return ApiRuntime(
        database=db,
        control=DeviceControl(NoBroker()),
        signer=signer,
        sink=None,
        settings=ApiConfig(secret_key=SecretStr(SECRET.decode())),
    )


def _member(db: Database, org: Any, email: str, role: Role) -> tuple[User, str]:
    user = find_or_create_user(db, email=email, name=email.split("@")[0])
    add_membership(db, org=org, user=user, role=role)
    return user, issue_token(db, org=org, user=user, name="bench")[1].secret


def _next_weekday(weekday: int) -> datetime:
    today = utc_now().date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 + 7)
    return datetime.combine(day, clock(0), UTC)


def _empty(db: Database) -> None:
    from cloud.models import ALL_MODELS

    with db.atomic():
        for model in reversed(ALL_MODELS):
            model.delete().execute()


# -- concurrency through uvicorn -----------------------------------------------------------------


@contextmanager
def _served(runtime: ApiRuntime) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(CloudConfig(), runtime=runtime), host="127.0.0.1", port=free_port(),
        log_level="warning",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _all_at_once(
    base: str, sends: list[Callable[[httpx.Client], httpx.Response]]
) -> tuple[Counter[tuple[int, str]], list[float]]:
    barrier = threading.Barrier(len(sends))
    outcomes: Counter[tuple[int, str]] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def run(send: Callable[[httpx.Client], httpx.Response]) -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            http.get("/api/v1/health")
            barrier.wait()
            started = time.perf_counter()
            response = send(http)
            elapsed = (time.perf_counter() - started) * 1000
        code = (
            response.json().get("error", {}).get("code", "") if response.status_code >= 400 else ""
        )
        with lock:
            outcomes[(response.status_code, code)] += 1
            latencies.append(elapsed)

    threads = [threading.Thread(target=run, args=(send,)) for send in sends]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    return outcomes, latencies


def _poster(token: str, body: dict[str, str]) -> Callable[[httpx.Client], httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"}
    return lambda http: http.post("/api/v1/orgs/bench/bookings", headers=headers, json=body)


def concurrency(db: Database, requests: int) -> bool:
    _empty(db)
    org = create_organisation(db, slug="bench", name="Bench")
    host, _ = _member(db, org, "host@bench.example", Role.HOST)
    scope = OrgScope(org=org, user=host, role=Role.HOST)
    tokens = [_member(db, org, f"g{n}@bench.example", Role.MEMBER)[1] for n in range(requests)]
    wednesday = _next_weekday(2)
    ok = True
    with _served(_runtime(db)) as base:
        one = availability.create_slot(
            db, scope=scope,
            data=SlotCreate(day_of_week=2, start_time=clock(9), end_time=clock(17),
                            duration_minutes=60, timezone="UTC"),
        )  # fmt: skip
        start = (wednesday + timedelta(hours=10)).isoformat()
        same = [_poster(token, {"slot_id": str(one.id), "start": start}) for token in tokens]
        ok &= _report(f"{requests} bookings of one time", *_all_at_once(base, same), requests, db)
        _empty_bookings(db)
        minute = max(1, 59 // requests)
        slots = [
            availability.create_slot(
                db, scope=scope,
                data=SlotCreate(
                    day_of_week=3, start_time=clock(8 + (n * minute) // 60, (n * minute) % 60),
                    end_time=clock(12), duration_minutes=60, timezone="UTC",
                ),
            )
            for n in range(requests)
        ]  # fmt: skip
        thursday = wednesday + timedelta(days=1, hours=8)
        overlapping = [
            _poster(
                token,
                {
                    "slot_id": str(slot.id),
                    "start": (thursday + timedelta(minutes=n * minute)).isoformat(),
                },
            )
            for n, (token, slot) in enumerate(zip(tokens, slots, strict=True))
        ]
        ok &= _report(
            f"{requests} bookings of partly overlapping times ({minute} min apart, 60 min long)",
            *_all_at_once(base, overlapping), requests, db,
        )  # fmt: skip
    return ok


def _empty_bookings(db: Database) -> None:
    with db.atomic():
        HostBusy.delete().execute()
        Booking.delete().execute()


def _report(
    name: str,
    outcomes: Counter[tuple[int, str]],
    latencies: list[float],
    requests: int,
    db: Database,
) -> bool:
    rows = Booking.select().where(Booking.status == BookingStatus.CONFIRMED).count()
    created, conflicts = outcomes[(201, "")], outcomes[(409, "time_taken")]
    ok = created == 1 and conflicts == requests - 1 and rows == 1
    print(
        f"{name}: {created} confirmed (limit: exactly 1), {conflicts} x 409 time_taken "
        f"(limit: {requests - 1}), {rows} row(s); other answers "
        f"{ {k: v for k, v in outcomes.items() if k not in ((201, ''), (409, 'time_taken'))} }; "
        f"latency p50 {statistics.median(latencies):.0f} ms, max {max(latencies):.0f} ms "
        f"-> {'OK' if ok else 'WRONG'}"
    )
    return ok


# -- bookable times through the ASGI app ------------------------------------------------------------


def bookable(db: Database, samples: int) -> bool:
    _empty(db)
    org = create_organisation(db, slug="bench", name="Bench")
    host, _ = _member(db, org, "host@bench.example", Role.HOST)
    _, token = _member(db, org, "guest@bench.example", Role.MEMBER)
    guests = [_member(db, org, f"b{n}@bench.example", Role.MEMBER)[0] for n in range(10)]
    scope = OrgScope(org=org, user=host, role=Role.HOST)
    slots = [
        availability.create_slot(
            db, scope=scope,
            data=SlotCreate(
                day_of_week=day, start_time=clock(7), end_time=clock(19), duration_minutes=30,
                timezone="Europe/Berlin", buffer_before_minutes=0, booking_window_days=90,
            ),
        )
        for day in range(5)
    ]  # fmt: skip
    availability.put_booking_settings(
        db, scope=scope, host=host,
        data=BookingSettingsUpdate(timezone="Europe/Berlin", max_per_day=20),
    )  # fmt: skip
    first = utc_now().date() + timedelta(days=1)
    for n, kind in enumerate([OverrideKind.BLACKOUT] * 3 + [OverrideKind.EXTRA] * 2):
        day = first + timedelta(days=7 * n + 3)
        extra = kind is OverrideKind.EXTRA
        availability.create_override(
            db, scope=scope,
            data=OverrideCreate(
                date=day + timedelta(days=(5 - day.weekday()) % 7 if extra else 0), kind=kind,
                timezone="Europe/Berlin", slot_id=slots[0].id if extra else None,
                start_time=clock(10) if extra else None, end_time=clock(14) if extra else None,
            ),
        )  # fmt: skip
    made = 0
    day = first
    while made < 500:
        found = availability.find_bookable_times(
            org_id=org.id, host_id=host.id, first=day, last=day, zone="Europe/Berlin"
        ).times
        for item in found[::2][: 500 - made]:  # every other time: gaps stay between bookings
            guest = guests[made % len(guests)]
            bookings.create_booking(
                db, scope=OrgScope(org=org, user=guest, role=Role.MEMBER), secret=SECRET,
                data=BookingCreate(slot_id=item.slot_id, start=item.starts_at),
            )  # fmt: skip
            made += 1
        day += timedelta(days=1)
        assert day < first + timedelta(days=90), "ran out of days to place 500 bookings"
    last = first + timedelta(days=59)
    booked = (
        Booking.select().where(Booking.starts_at >= datetime.combine(first, clock(0), UTC)).count()
    )
    print(f"loaded: 5 weekday slots, {booked} bookings (up to {day.isoformat()}), 5 overrides")
    app = create_app(CloudConfig(), runtime=_runtime(db))
    http = AsgiCaller(app)
    url = f"/api/v1/orgs/bench/hosts/{host.id}/bookable-times"
    params = {"from": first.isoformat(), "to": last.isoformat(), "tz": "America/New_York"}
    headers = {"Authorization": f"Bearer {token}"}

    cpu: list[float] = []

    async def measure() -> tuple[list[float], int]:
        timings: list[float] = []
        count = 0
        for _ in range(samples):
            started, started_cpu = time.perf_counter(), time.process_time()
            status, raw = await http.get(url, headers=headers, params=params)
            timings.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
            assert status == 200, raw[:300]
            count = json.loads(raw)["count"]
        return timings, count

    asyncio.run(http.get(url, headers=headers, params=params))  # warm up
    timings, count = asyncio.run(measure())
    service_calls: list[float] = []
    computed: list[float] = []
    from cloud.scheduling import availability as rules
    from cloud.scheduling.zones import combine

    since = combine(first, clock(0), "America/New_York")
    until = combine(last + timedelta(days=1), clock(0), "America/New_York")
    rules_of = [
        availability.slot_rule(s) for s in availability.list_slots(scope=scope, host_id=host.id)
    ]
    overrides = availability.overrides_for(host.id, first, last)
    spans = busy_spans(host.id, since - timedelta(days=16), until + timedelta(days=8))
    limits = host_limits(org.id, host.id)
    for _ in range(min(samples, 200)):
        started = time.perf_counter()
        availability.find_bookable_times(
            org_id=org.id, host_id=host.id, first=first, last=last, zone="America/New_York"
        )
        called = time.perf_counter()
        rules.bookable_times(
            rules_of, overrides, spans, limits, since=since, until=until, now=utc_now()
        )
        service_calls.append((called - started) * 1000)
        computed.append((time.perf_counter() - called) * 1000)
    p50, p99 = statistics.median(timings), percentile(timings, 0.99)
    ok = p50 <= BOOKABLE_P50_MS and p99 <= BOOKABLE_P99_MS
    print(
        f"bookable times, 60 days ({count} free times returned): p50 {p50:.2f} ms "
        f"({p50 / BOOKABLE_P50_MS:.2f} of the {BOOKABLE_P50_MS:.0f} ms limit), p99 {p99:.2f} ms "
        f"({p99 / BOOKABLE_P99_MS:.2f} of {BOOKABLE_P99_MS:.0f} ms), n={samples} -> {'OK' if ok else 'OVER'}"
    )
    print(
        f"  the service call (its four queries and the computation): p50 "
        f"{statistics.median(service_calls):.2f} ms; the computation alone: p50 "
        f"{statistics.median(computed):.2f} ms (so HTTP, auth and JSON add "
        f"{p50 - statistics.median(service_calls):.2f} ms); load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  CPU of this process per request: p50 {statistics.median(cpu):.2f} ms, p99 "
        f"{percentile(cpu, 0.99):.2f} ms"
    )
    return ok


# -- a two-year weekly series --------------------------------------------------------------------------


def series(db: Database, runs: int) -> bool:
    _empty(db)
    org = create_organisation(db, slug="bench", name="Bench")
    _, coach = _member(db, org, "coach@bench.example", Role.COACH)
    app = create_app(CloudConfig(), runtime=_runtime(db))
    http = AsgiCaller(app)
    timings: list[float] = []
    cpu: list[float] = []
    monday = _next_weekday(0)
    for run in range(runs + 1):
        host, _ = _member(db, org, f"host{run}@bench.example", Role.HOST)
        # 300 busy rows already: two a day, on other days and times than the series'.
        rows = [
            {
                "org": org.id, "host": host.id, "kind": BusyKind.SESSION,
                "starts_at": monday + timedelta(days=n // 2 * 2 + 1, hours=9 + 3 * (n % 2)),
                "ends_at": monday + timedelta(days=n // 2 * 2 + 1, hours=10 + 3 * (n % 2)),
            }
            for n in range(300)
        ]  # fmt: skip
        with db.atomic():
            HostBusy.insert_many(rows).execute()
        body = json.dumps(
            {
                "title": "Tuesday practice", "host_id": str(host.id),
                "start": (monday + timedelta(hours=18)).replace(tzinfo=None).isoformat(),
                "timezone": "Europe/Berlin", "duration_minutes": 90,
                "rule": {"freq": "weekly", "weekdays": ["MO"], "count": 104},
            }
        ).encode()  # fmt: skip
        started, started_cpu = time.perf_counter(), time.process_time()
        status, raw = asyncio.run(
            http.request(
                "POST", "/api/v1/orgs/bench/series",
                headers={"Authorization": f"Bearer {coach}"}, body=body,
            )
        )  # fmt: skip
        elapsed = (time.perf_counter() - started) * 1000
        spent = (time.process_time() - started_cpu) * 1000
        assert status == 201, raw[:500]
        assert json.loads(raw)["created_occurrences"] == 104
        if run:  # the first warms up
            timings.append(elapsed)
            cpu.append(spent)
    p50, worst = statistics.median(timings), max(timings)
    ok = worst <= SERIES_LIMIT_MS
    print(
        f"weekly series of 104 occurrences with its conflict check (300 busy rows): p50 "
        f"{p50:.1f} ms ({p50 / SERIES_LIMIT_MS:.2f} of the {SERIES_LIMIT_MS:.0f} ms limit), max "
        f"{worst:.1f} ms ({worst / SERIES_LIMIT_MS:.2f}), n={len(timings)} -> {'OK' if ok else 'OVER'}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"  CPU of this process per request: p50 {statistics.median(cpu):.1f} ms, max "
        f"{max(cpu):.1f} ms (the rest of the wall time is the database and waiting for a core)"
    )
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["concurrency", "bookable", "series"])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    cluster = None
    admin_url = DEFAULT_ADMIN_URL
    if not server_answers(admin_url):
        cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="sideline-bench-pg-")))
        cluster.start()
        admin_url = cluster.admin_url
    temporary = TemporaryDatabase(admin_url, prefix="sideline_bench")
    ok = True
    try:
        db = open_database(temporary.create())
        migrate(db)
        if args.only in (None, "concurrency"):
            ok &= concurrency(db, args.requests)
        if args.only in (None, "bookable"):
            ok &= bookable(db, args.samples)
        if args.only in (None, "series"):
            ok &= series(db, args.runs)
        db.close()
    finally:
        temporary.drop()
        if cluster is not None:
            cluster.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
