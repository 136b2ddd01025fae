"""Trigger tests reuse the capture suite's generated video."""

from tests.agent.capture.conftest import media_dir, packets, video

__all__ = ["media_dir", "packets", "video"]
