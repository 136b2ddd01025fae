"""Acknowledgements leave in arrival order, whichever writer commits first."""

from __future__ import annotations

import protocol as p
from cloud.ingest.acks import OrderedAcks
from cloud.ingest.decoding import Inbound


def _inbound(sequence: int, generation: int = 1) -> Inbound:
    return Inbound(
        topic="t",
        payload=b"",
        mid=100 + sequence,
        qos=1,
        retain=False,
        generation=generation,
        received_at=p.utc_now(),
        sequence=sequence,
    )


def test_a_later_message_waits_for_the_earlier_ones() -> None:
    sent: list[int] = []

    def send(inbound: Inbound) -> bool:
        sent.append(inbound.mid)
        return True

    acks = OrderedAcks(send)
    acks.ack(_inbound(2))
    acks.ack(_inbound(1))
    assert sent == []  # 0 is still being written
    acks.ack(_inbound(0))
    assert sent == [100, 101, 102]
    acks.ack(_inbound(3))
    assert sent == [100, 101, 102, 103]


def test_acks_for_a_dropped_connection_are_counted_not_sent() -> None:
    skipped: list[int] = []
    acks = OrderedAcks(lambda inbound: inbound.generation == 2, lambda: skipped.append(1))
    acks.ack(_inbound(0, generation=1))
    acks.ack(_inbound(1, generation=2))
    assert len(skipped) == 1
