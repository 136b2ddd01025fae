"""Upload bandwidth cap: a token bucket applied where botocore reads the request body.

botocore reads the body in small blocks as it sends; each block waits for its
tokens, so the cap holds on the wire rather than per part (a part sent at full
speed after a long wait would still saturate an LTE uplink for seconds). The
uploader passes precomputed checksums and disables payload signing, so the body
is read once: the bytes counted are the bytes sent.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

__all__ = ["ThrottledReader", "TokenBucket"]


class TokenBucket:
    def __init__(
        self,
        rate_bytes_per_s: float,
        *,
        burst_bytes: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_bytes_per_s <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate_bytes_per_s
        self.burst = burst_bytes if burst_bytes is not None else max(rate_bytes_per_s / 4, 16384)
        self._tokens = self.burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._last = monotonic()
        self._lock = threading.Lock()

    def take(self, amount: int) -> None:
        """Block until ``amount`` bytes may be sent (larger amounts go in burst-sized steps)."""
        remaining = float(amount)
        while remaining > 0:
            step = min(remaining, self.burst)
            with self._lock:
                now = self._monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                self._tokens -= step
                wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
            if wait > 0:
                self._sleep(wait)
            remaining -= step


class ThrottledReader(io.RawIOBase):
    """A seekable read-only view of ``source`` whose reads spend tokens from ``bucket``
    and report progress to ``on_read``."""

    def __init__(
        self,
        source: BinaryIO,
        bucket: TokenBucket | None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self._source = source
        self._bucket = bucket
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if self._bucket is not None and data:
            self._bucket.take(len(data))
        if self._on_read is not None:
            self._on_read(len(data))  # progress: a slow upload is not a hung one
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._source.seek(offset, whence)

    def tell(self) -> int:
        return self._source.tell()
