"""A multipart upload's part read from the file as it is sent (agent/sync/objectstore.FilePart)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

from agent.sync.objectstore import FilePart


def test_a_part_is_a_seekable_window_of_the_file(tmp_path: Path) -> None:
    data = bytes(range(256)) * 100
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    with path.open("rb") as handle:
        whole, own = hashlib.sha256(), hashlib.sha256()
        part = FilePart.measure(handle, 1000, 5000, whole, own)
        assert part.size == 5000
        assert own.hexdigest() == hashlib.sha256(data[1000:6000]).hexdigest()
        assert whole.hexdigest() == own.hexdigest()
        part.seek(0)
        assert part.read(10) == data[1000:1010]
        assert part.tell() == 10
        assert part.read() == data[1010:6000]
        assert part.read(5) == b""
        part.seek(-3, io.SEEK_END)
        assert part.read() == data[5997:6000]
        handle.seek(0)  # another reader moved the file: the part reads its own window
        part.seek(100)
        assert part.read(4) == data[1100:1104]


def test_a_file_cut_short_gives_a_short_last_part(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 3000)
    with path.open("rb") as handle:
        part = FilePart.measure(handle, 2000, 5000)
        assert part.size == 1000
        assert part.read() == b"x" * 1000
        assert FilePart.measure(handle, 4000, 5000).size == 0
