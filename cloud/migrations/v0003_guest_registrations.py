"""One active registration per guest email and session (a partial unique index).

A guest is known only by their email, so before this a double tap on "register"
could take two seats. Rows that already break the rule are resolved first: the
earliest registration of each (session, email) stays, the later ones are
cancelled now, and those sessions' participant counts are recounted, so that
the index can be built and no seat stays taken twice.
"""

from __future__ import annotations

from peewee import Database

from cloud.models import UtcDateTimeField, utc_now

__all__ = ["apply"]

_ACTIVE_GUEST = "{t}.user_id IS NULL AND {t}.guest_email IS NOT NULL AND {t}.status = 'registered'"

_LATER_DUPLICATE = (
    _ACTIVE_GUEST.format(t="later")
    + " AND EXISTS (SELECT 1 FROM session_participant AS earlier WHERE "
    + _ACTIVE_GUEST.format(t="earlier")
    + " AND earlier.session_id = later.session_id AND earlier.guest_email = later.guest_email"
    " AND (earlier.registered_at < later.registered_at OR"
    " (earlier.registered_at = later.registered_at AND earlier.id < later.id)))"
)


def apply(database: Database) -> None:
    param = database.param
    duplicates = database.execute_sql(
        f"SELECT later.id, later.session_id FROM session_participant AS later WHERE {_LATER_DUPLICATE}"
    ).fetchall()
    now = UtcDateTimeField().db_value(utc_now())
    for participant_id, _ in duplicates:
        database.execute_sql(
            f"UPDATE session_participant SET status = 'cancelled', cancelled_at = {param} "
            f"WHERE id = {param}",
            (now, participant_id),
        )
    for session_id in sorted({session_id for _, session_id in duplicates}, key=str):
        database.execute_sql(
            'UPDATE "session" SET participant_count = (SELECT COUNT(*) FROM session_participant '
            "WHERE session_participant.session_id = \"session\".id AND status = 'registered') "
            f"WHERE id = {param}",
            (session_id,),
        )
    database.execute_sql(
        'CREATE UNIQUE INDEX "session_participant_session_id_guest_email" '
        'ON "session_participant" ("session_id", "guest_email") '
        "WHERE user_id IS NULL AND guest_email IS NOT NULL AND status = 'registered'"
    )
