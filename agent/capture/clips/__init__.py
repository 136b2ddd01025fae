"""Clips: a trigger's window of the pre-roll, stream-copied to MP4 and committed atomically.

- :class:`ClipWriter` (``writer``) turns every :class:`~agent.interfaces.ClipRequest`
  into one clip per camera, merging overlapping ones;
- :class:`ClipCommitter` (``commit``) writes finished clips and hands them to the
  store, retrying what failed;
- :class:`ClipFileWriter` (``files``) writes one clip's MP4 and JPEG;
- ``timeline`` chooses a clip's packets and lays them on one MP4 timeline;
- ``atomic`` makes files appear whole or not at all, and recovers interrupted clips.
"""

from agent.capture.clips.atomic import RecoveryReport, recover_directory
from agent.capture.clips.commit import ClipCommitter, ClipWriterStats
from agent.capture.clips.files import ClipFileWriter, ClipJob
from agent.capture.clips.writer import ClipWriter, RangeJob

__all__ = [
    "ClipCommitter",
    "ClipFileWriter",
    "ClipJob",
    "ClipWriter",
    "ClipWriterStats",
    "RangeJob",
    "RecoveryReport",
    "recover_directory",
]
