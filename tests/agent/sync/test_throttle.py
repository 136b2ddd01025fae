"""The upload bandwidth cap, on a fake clock: bytes per second as configured."""

from __future__ import annotations

import io

from agent.sync.throttle import ThrottledReader, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_reading_a_body_takes_as_long_as_the_rate_allows() -> None:
    clock = FakeTime()
    bucket = TokenBucket(100_000, burst_bytes=10_000, monotonic=clock.monotonic, sleep=clock.sleep)
    progress: list[int] = []
    reader = ThrottledReader(io.BytesIO(b"x" * 1_000_000), bucket, progress.append)
    while reader.read(8192):
        pass
    # 1 MB at 100 kB/s, less the initial burst.
    assert 9.8 <= clock.now <= 10.0
    assert sum(progress) == 1_000_000


def test_the_reader_is_seekable_for_retries() -> None:
    reader = ThrottledReader(io.BytesIO(b"abcdef"), None)
    assert reader.read(3) == b"abc"
    reader.seek(0)
    assert reader.tell() == 0 and reader.read() == b"abcdef"
