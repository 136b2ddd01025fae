"""``sideline cloud migrate`` and the start-up check services make."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloud.db import open_database
from cloud.migrations import (
    SchemaBehind,
    available_migrations,
    current_version,
    open_current_database,
)
from sideline.cli import app
from sideline.services.postgres import TemporaryDatabase

runner = CliRunner()


def test_migrate_applies_then_reports_nothing_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    first = runner.invoke(app, ["cloud", "migrate", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert "applied 0001 initial" in first.output
    second = runner.invoke(app, ["cloud", "migrate", "--database-url", url])
    assert second.exit_code == 0, second.output
    assert "applied" not in second.output
    assert f"schema version {len(available_migrations())}" in second.output


def test_migrate_explains_a_bad_url_without_a_traceback() -> None:
    result = runner.invoke(app, ["cloud", "migrate", "--database-url", "mysql://db/x"])
    assert result.exit_code == 2
    assert "unsupported database URL scheme 'mysql'" in result.output
    assert "Traceback" not in result.output


def test_embedded_sqlite_is_migrated_at_start_up(tmp_path: Path) -> None:
    database = open_current_database(f"sqlite:///{tmp_path / 'data' / 'cloud.db'}")
    assert current_version(database) == len(available_migrations())


def test_postgres_behind_the_code_is_refused_with_the_fix(postgres_admin_url: str) -> None:
    with TemporaryDatabase(postgres_admin_url) as url:
        with pytest.raises(SchemaBehind, match="run `sideline cloud migrate`"):
            open_current_database(url)
        open_database(url).close()
