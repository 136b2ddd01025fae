"""The in-flight window: bounded per kind; timeouts count from the broker's PUBACK."""

from __future__ import annotations

from agent.sync.window import InFlight, InFlightWindow
from protocol import new_id


def message(kind: str = "logs", sent_at: float = 0.0) -> InFlight:
    return InFlight(new_id(), kind, frozenset({b"a" * 16}), sent_at)  # type: ignore[arg-type]


def test_each_kind_has_its_own_slots() -> None:
    window = InFlightWindow(2)
    window.add(message("logs"))
    window.add(message("logs"))
    assert window.free_slots("logs") == 0 and window.free_slots("clips") == 2


def test_only_delivered_messages_time_out() -> None:
    window = InFlightWindow(4)
    waiting, delivered = message(), message()
    window.add(waiting)
    window.add(delivered)
    window.delivered(delivered.message_id, now=10.0)
    assert window.expired(now=100.0, timeout_s=30.0) == [delivered]
    assert len(window) == 1  # paho re-sends the undelivered one itself


def test_a_lost_session_expires_every_delivered_message_at_once() -> None:
    window = InFlightWindow(4)
    first, second, third = message(), message(), message()
    for item in (first, second, third):
        window.add(item)
    window.delivered(first.message_id, 1.0)
    window.delivered(second.message_id, 1.0)
    assert {m.message_id for m in window.expire_delivered()} == {
        first.message_id,
        second.message_id,
    }
    assert window.remove(third.message_id) is third and len(window) == 0
