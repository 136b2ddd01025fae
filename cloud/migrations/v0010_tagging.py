"""Tagging: clip settings on form versions, a tag's window on logs, log/clip links,
re-trims and clock offsets on clips, tag requests on commands, a session's tagging
switch, a device's clip limits and clock skew; playlists, share links and the key
they are signed with. Added columns are all nullable or have a default, so existing
rows need no rewrite; the new tables' DDL is frozen beside this file."""

from __future__ import annotations

from pathlib import Path

from peewee import Database

from cloud.db import is_postgres
from cloud.migrations.render import split_statements

__all__ = ["apply"]


def apply(database: Database) -> None:
    dialect = "postgres" if is_postgres(database) else "sqlite"
    ddl = (Path(__file__).parent / f"v0010_tagging.{dialect}.sql").read_text()
    for statement in split_statements(ddl):
        database.execute_sql(statement)
