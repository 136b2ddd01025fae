"""Reconnect backoff: exponential ceiling, full jitter, reset."""

from __future__ import annotations

import random

import pytest

from agent.sync.backoff import Backoff


def test_delays_stay_between_the_minimum_and_a_doubling_ceiling() -> None:
    backoff = Backoff(1.0, 30.0, random.Random(7))
    ceilings = []
    for _ in range(8):
        ceiling = backoff.ceiling()
        delay = backoff.next_delay()
        assert 1.0 <= delay <= ceiling
        ceilings.append(ceiling)
    assert ceilings == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_jitter_spreads_a_fleet_apart() -> None:
    fleet = [Backoff(1.0, 60.0, random.Random(seed)) for seed in range(50)]
    for backoff in fleet:
        for _ in range(4):
            backoff.next_delay()
    fifth = {round(b.next_delay(), 3) for b in fleet}
    assert len(fifth) > 40  # boxes that failed together do not retry together


def test_reset_starts_over_and_bad_bounds_are_refused() -> None:
    backoff = Backoff(0.5, 8.0)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.ceiling() == 0.5 and backoff.failures == 0
    with pytest.raises(ValueError):
        Backoff(2.0, 1.0)
