"""Dead letters are kept for a person to look at, not forever.

A device stuck on a bad build can send a malformed message every second; its
dead letters must not grow the database without bound. The ingest's
housekeeping prunes by age and caps the count, newest kept.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cloud.models import DeadLetter

__all__ = ["prune_dead_letters"]

log = logging.getLogger(__name__)


def prune_dead_letters(now: datetime, *, max_age_s: float, max_rows: int) -> int:
    """Delete dead letters older than ``max_age_s`` and all but the newest ``max_rows``."""
    deleted = int(
        DeadLetter.delete()
        .where(DeadLetter.received_at < now - timedelta(seconds=max_age_s))
        .execute()
    )
    oldest_kept = (
        DeadLetter.select(DeadLetter.received_at)
        .order_by(DeadLetter.received_at.desc(), DeadLetter.id.desc())
        .offset(max_rows - 1)
        .limit(1)
        .scalar()
    )
    if oldest_kept is not None:
        deleted += int(DeadLetter.delete().where(DeadLetter.received_at < oldest_kept).execute())
    if deleted:
        log.info(
            "pruned %d dead letters (older than %.0f s or beyond %d)", deleted, max_age_s, max_rows
        )
    return deleted
