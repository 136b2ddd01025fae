"""Versioned migrations produce exactly the schema the models describe, on both databases."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database, IntegrityError, PostgresqlDatabase, SqliteDatabase

from cloud.db import database_proxy, open_database
from cloud.migrations import (
    SchemaTooNew,
    applied_versions,
    available_migrations,
    current_version,
    migrate,
)
from cloud.models import (
    ALL_MODELS,
    AttendanceInterval,
    Device,
    HostBusy,
    Log,
    Organisation,
    ParticipantStatus,
    Session,
    SessionParticipant,
    SessionStatus,
    User,
    UtcDateTimeField,
    utc_now,
)
from protocol import new_id
from sideline.services.postgres import TemporaryDatabase


def _schema(database: Database) -> dict[str, object]:
    """Tables with their columns, indexes and foreign keys, as the database reports them."""
    described: dict[str, object] = {}
    for table in sorted(database.get_tables()):
        if table == "schema_version":
            continue
        columns = sorted(
            (c.name, c.data_type.lower(), c.null, c.primary_key)
            for c in database.get_columns(table)
        )
        indexes = sorted((i.name, tuple(i.columns), i.unique) for i in database.get_indexes(table))
        keys = sorted(
            (k.column, k.dest_table, k.dest_column) for k in database.get_foreign_keys(table)
        )
        described[table] = (columns, indexes, keys)
    return described


@pytest.fixture(params=["sqlite", "postgres"])
def two_empty_databases(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_admin_url: str
) -> tuple[Database, Database]:
    if request.param == "sqlite":
        return SqliteDatabase(str(tmp_path / "a.db")), SqliteDatabase(str(tmp_path / "b.db"))
    first, second = TemporaryDatabase(postgres_admin_url), TemporaryDatabase(postgres_admin_url)
    urls = first.create(), second.create()
    request.addfinalizer(first.drop)
    request.addfinalizer(second.drop)
    databases = tuple(
        PostgresqlDatabase(url.rsplit("/", 1)[1], host="127.0.0.1", user="postgres") for url in urls
    )
    for database in databases:
        request.addfinalizer(database.close)
    return databases  # type: ignore[return-value]


def test_migrations_build_the_schema_the_models_describe(
    two_empty_databases: tuple[Database, Database],
) -> None:
    migrated, created = two_empty_databases
    database_proxy.initialize(migrated)
    applied = migrate(migrated)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    database_proxy.initialize(created)
    created.create_tables(ALL_MODELS)
    assert _schema(migrated) == _schema(created)
    assert {model._meta.table_name for model in ALL_MODELS} <= set(migrated.get_tables())


def test_migrating_twice_applies_nothing_the_second_time(db_url: str) -> None:
    database = open_database(db_url)
    assert migrate(database) == []
    assert applied_versions(database) == [m.version for m in available_migrations()]


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(database)
    newest = current_version(database)
    database.execute_sql(
        "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
        (newest + 1, "from_the_future", "2030-01-01 00:00:00.000000+00:00"),
    )
    with pytest.raises(SchemaTooNew, match=f"schema version {newest + 1}"):
        migrate(database)


def test_concurrent_starters_apply_each_migration_once(postgres_admin_url: str) -> None:
    with TemporaryDatabase(postgres_admin_url) as url:
        open_database(url)
        applied: list[int] = []
        errors: list[BaseException] = []

        def start() -> None:
            try:
                applied.extend(m.version for m in migrate(database_proxy.obj))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                database_proxy.obj.close()

        threads = [threading.Thread(target=start) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        # The lock is taken per migration, so starters may share the work; what
        # matters is that each migration ran exactly once, in some starter.
        assert sorted(applied) == [m.version for m in available_migrations()]
        assert applied_versions(database_proxy.obj) == sorted(applied)


def test_rows_survive_every_migration(two_empty_databases: tuple[Database, Database]) -> None:
    database, _ = two_empty_databases
    database_proxy.initialize(database)
    migrate(database, target=1)
    org = Organisation.create(slug="kept", name="Kept")
    Device.create(
        id="box",
        org=org,
        name="box",
        mqtt_password_hash="x",
        s3_access_key_id="k",
        s3_secret_hash="0",
    )
    log_id = new_id()
    Log.insert(
        id=log_id,
        org=org.id,
        device="box",
        origin="device",
        source="marker",
        type="marker",
        occurred_at=utc_now(),
        data={"kept": True},
    ).execute()
    assert [m.version for m in migrate(database)] == list(range(2, len(available_migrations()) + 1))
    kept = Log.get_by_id(log_id)
    assert (kept.data, kept.device_id, kept.org_id) == ({"kept": True}, "box", org.id)


def test_guest_registrations_that_break_the_new_rule_are_resolved(
    two_empty_databases: tuple[Database, Database],
) -> None:
    """v0003: the earliest registration of a guest email stays; later ones are
    cancelled and the session's count recounted, so the unique index can be built."""
    database, _ = two_empty_databases
    database_proxy.initialize(database)
    migrate(database, target=2)
    org = Organisation.create(slug="club", name="Club")
    session = _session_of_schema_v3(database, org)
    start = utc_now()
    rows = [
        _participant_of_schema_v3(
            database, session, f"Pat {n}", "pat@x.org", start + timedelta(seconds=n)
        )
        for n in range(3)
    ]
    other = _participant_of_schema_v3(database, session, "Sam", "sam@x.org", start)
    assert [m.version for m in migrate(database, target=3)] == [3]
    migrate(database)  # the rest, so that the models below read every column
    status = {row.id: SessionParticipant.get_by_id(row.id).status for row in [*rows, other]}
    assert status == {
        rows[0].id: ParticipantStatus.REGISTERED,
        rows[1].id: ParticipantStatus.CANCELLED,
        rows[2].id: ParticipantStatus.CANCELLED,
        other.id: ParticipantStatus.REGISTERED,
    }
    assert Session.get_by_id(session.id).participant_count == 2
    with pytest.raises(IntegrityError):
        SessionParticipant.create(session=session, guest_name="Pat", guest_email="pat@x.org")


def _participant_of_schema_v3(
    database: Database, session: Session, name: str, email: str, at: datetime
) -> SessionParticipant:
    """A registration with only the columns schema version 3 has (the model has more)."""
    participant_id = new_id()
    p = database.param
    database.execute_sql(
        "INSERT INTO session_participant (id, session_id, guest_name, guest_email, status, "
        f"registered_at) VALUES ({p}, {p}, {p}, {p}, 'registered', {p})",
        (participant_id.hex, session.id.hex, name, email, UtcDateTimeField().db_value(at)),
    )
    return SessionParticipant(id=participant_id)


def _session_of_schema_v3(
    database: Database,
    org: Organisation,
    *,
    host: User | None = None,
    at: datetime | None = None,
    minutes: int | None = None,
) -> Session:
    """A session row with only the columns schema version 3 has (the model has more)."""
    session_id = new_id()
    field = UtcDateTimeField()
    now = field.db_value(utc_now())
    p = database.param
    database.execute_sql(
        'INSERT INTO "session" (id, org_id, host_id, scheduled_at, duration_minutes, title, type, '
        f"status, timezone, participant_count, is_free, created_at, updated_at) VALUES ({p}, {p}, "
        f"{p}, {p}, {p}, 'Open day', 'practice', {p}, 'UTC', 4, {p}, {p}, {p})",
        (
            session_id.hex,
            org.id.hex,
            host.id.hex if host is not None else None,
            field.db_value(at) if at is not None else None,
            minutes,
            SessionStatus.SCHEDULED.value,
            True,
            now,
            now,
        ),
    )
    return Session(id=session_id)


def test_hosted_sessions_get_their_busy_time(
    two_empty_databases: tuple[Database, Database],
) -> None:
    """v0004: a hosted, scheduled session holds its host's time; of two that already
    overlapped, the earlier keeps it (the migration does not fail on old data)."""
    database, _ = two_empty_databases
    database_proxy.initialize(database)
    migrate(database, target=3)
    org = Organisation.create(slug="club", name="Club")
    host = User.create(email="host@club.example", name="Host")
    start = utc_now() + timedelta(days=1)
    first = _session_of_schema_v3(database, org, host=host, at=start, minutes=60)
    second = _session_of_schema_v3(database, org, host=host, at=start + timedelta(minutes=30))
    _session_of_schema_v3(database, org, at=start)  # no host: holds nothing
    assert [m.version for m in migrate(database, target=4)] == [4]
    migrate(database)
    rows = list(HostBusy.select())
    assert [(row.session_id, row.starts_at, row.ends_at) for row in rows] == [
        (first.id, start, start + timedelta(minutes=60))
    ]
    assert second.id != first.id


def test_join_times_become_intervals_and_seats_keep_their_price(
    two_empty_databases: tuple[Database, Database],
) -> None:
    """v0007: a participant's joined/left become their first interval; registrations of
    paid sessions take the session's price."""
    database, _ = two_empty_databases
    database_proxy.initialize(database)
    migrate(database, target=6)
    org = Organisation.create(slug="club", name="Club")
    session = _session_of_schema_v3(database, org)
    p = database.param
    database.execute_sql(
        f"UPDATE \"session\" SET is_free = {p}, price_minor = 1250, currency = 'EUR'", (False,)
    )
    start = utc_now() - timedelta(hours=1)
    row = _participant_of_schema_v3(database, session, "Pat", "pat@x.org", start)
    field = UtcDateTimeField()
    database.execute_sql(
        f"UPDATE session_participant SET joined_at = {p}, left_at = {p}",
        (field.db_value(start), field.db_value(start + timedelta(minutes=40))),
    )
    assert [m.version for m in migrate(database)][:1] == [7]
    (interval,) = AttendanceInterval.select()
    assert (interval.participant_id, interval.joined_at, interval.left_at) == (
        row.id, start, start + timedelta(minutes=40),
    )  # fmt: skip
    kept = SessionParticipant.get_by_id(row.id)
    assert (kept.price_minor, kept.currency, kept.attendance_auto) == (1250, "EUR", False)
