"""The ingest's counters: what came in, what was stored, what was refused."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["IngestStats", "StatsSnapshot"]


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    messages: int
    transactions: int
    records_inserted: int
    records_duplicate: int
    records_rejected: int
    receipts_sent: int
    acks_skipped: int  # messages from a connection that had dropped: the broker re-sends
    db_retries: int
    dead_letters: dict[str, int]

    @property
    def dead_letter_total(self) -> int:
        return sum(self.dead_letters.values())

    def describe(self) -> str:
        letters = ", ".join(f"{code} {n}" for code, n in sorted(self.dead_letters.items()))
        return (
            f"{self.messages} messages in {self.transactions} transactions; records: "
            f"{self.records_inserted} new, {self.records_duplicate} already stored, "
            f"{self.records_rejected} refused; {self.receipts_sent} receipts; "
            f"dead letters: {letters or 'none'}; database retries {self.db_retries}"
        )


@dataclass
class IngestStats:
    """Updated by the worker thread, read by anyone (under the lock)."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    messages: int = 0
    transactions: int = 0
    records_inserted: int = 0
    records_duplicate: int = 0
    records_rejected: int = 0
    receipts_sent: int = 0
    acks_skipped: int = 0
    db_retries: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)

    def add(self, **counts: int) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def add_dead_letters(self, counts: Counter[str]) -> None:
        with self._lock:
            self.dead_letters.update(counts)

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                messages=self.messages,
                transactions=self.transactions,
                records_inserted=self.records_inserted,
                records_duplicate=self.records_duplicate,
                records_rejected=self.records_rejected,
                receipts_sent=self.receipts_sent,
                acks_skipped=self.acks_skipped,
                db_retries=self.db_retries,
                dead_letters=dict(self.dead_letters),
            )
