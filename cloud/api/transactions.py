"""Write transactions that behave the same under concurrency on both databases."""

from __future__ import annotations

from typing import Any

from peewee import Database

from cloud.db import is_sqlite

__all__ = ["write_transaction"]


def write_transaction(database: Database) -> Any:
    """``atomic()`` that takes SQLite's write lock at BEGIN.

    A deferred SQLite transaction that reads and then writes cannot wait for a
    concurrent writer: the upgrade fails at once with "database is locked".
    ``BEGIN IMMEDIATE`` queues at the start instead (up to the busy timeout),
    which is what PostgreSQL's row locks give for free.
    """
    if is_sqlite(database):
        return database.atomic("IMMEDIATE")
    return database.atomic()
