"""``sideline cloud ingest``, ``broker-files`` and ``device list`` from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from peewee import Database
from typer.testing import CliRunner

from cloud.devices.registry import create_device, retire_device
from sideline.cli import app
from tests.cloud.factories import make_org
from tests.procs import child_env, sideline_argv

runner = CliRunner()


def test_ingest_explains_a_database_it_cannot_use(tmp_path: Path) -> None:
    result = subprocess.run(
        sideline_argv("cloud", "ingest", "--database-url", "postgresql://nobody@127.0.0.1:1/none"),
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_broker_files_and_device_list(tmp_path: Path, sqlite_db: Database) -> None:
    url = f"sqlite:///{sqlite_db.database}"
    make_org("club")
    create_device("club", "North", device_id="north")
    create_device("club", "Old", device_id="old")
    retire_device("old")
    env = {"SIDELINE_CLOUD_MQTT__USERNAME": "cloud", "SIDELINE_CLOUD_MQTT__PASSWORD": "pw"}
    result = runner.invoke(
        app,
        ["cloud", "broker-files", "--out", str(tmp_path / "auth"), "--database-url", url],
        env=env,
    )
    assert result.exit_code == 0, result.output

    def users(name: str) -> list[str]:
        return [line.split(":")[0] for line in (tmp_path / "auth" / name).read_text().splitlines()]

    assert users("devices.passwd") == ["north"]  # the retired box is gone
    assert users("cloud.passwd") == ["cloud"]
    listeners = (tmp_path / "auth" / "listeners.conf").read_text()
    assert "listener 1883\nuse_username_as_clientid true\n" in listeners
    assert "listener 1884 127.0.0.1\n" in listeners
    listing = runner.invoke(app, ["cloud", "device", "list", "--database-url", url])
    assert listing.exit_code == 0, listing.output
    assert "club/north\tnever seen\tNorth" in listing.output
    assert "club/old\tretired\tOld" in listing.output


def test_jobs_once_extends_an_open_ended_series(sqlite_db: Database) -> None:
    from datetime import timedelta

    from cloud.models import Session, SessionSeries, utc_now

    org = make_org("club")
    start = (utc_now() + timedelta(days=1)).replace(hour=18, minute=0, second=0, microsecond=0)
    series = SessionSeries.create(
        org=org,
        title="Weekly",
        start_local=start.replace(tzinfo=None).isoformat(),
        timezone="UTC",
        rrule="FREQ=WEEKLY",
        duration_minutes=60,
        materialised_until=start,  # nothing written yet
    )
    url = f"sqlite:///{sqlite_db.database}"
    result = runner.invoke(app, ["cloud", "jobs", "--once", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "extended_series=1" in result.output
    written = Session.select().where(Session.recurrence_id == series.id).count()
    assert 52 <= written <= 53  # a year ahead (the default horizon)
