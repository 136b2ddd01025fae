"""Camera checks for ``sideline agent check``: does each camera (and substream) give video?

Each source is opened the way the agent opens it and read up to its first
packet, then closed: this proves the URL, credentials, codec (and that a codec
other than H.264 can be transcoded, or the refusal with its fix) and that video
flows, within the source's own open and stall timeouts. An RTSP camera takes
a second client; a Pi camera or a V4L2 device that the running agent holds
reports itself busy, which the message says. :func:`is_local` tells the cameras
``--offline`` still checks (all but network cameras).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from agent.capture.config import CameraConfig, RtspCameraConfig
from agent.capture.sources.base import SourceError, VideoSource
from agent.capture.sources.factory import make_source, make_substream_source
from agent.checks import CheckResult

__all__ = ["check_camera", "is_local"]


def is_local(camera: CameraConfig) -> bool:
    """True for cameras on the box itself (files, devices, the test pattern), not the network."""
    return not isinstance(camera, RtspCameraConfig)


def check_camera(camera: CameraConfig) -> list[CheckResult]:
    results = [_probe(f"camera {camera.id} ({camera.kind})", lambda: make_source(camera))]
    if isinstance(camera, RtspCameraConfig) and camera.substream_url:
        results.append(
            _probe(f"camera {camera.id} substream", lambda: make_substream_source(camera))
        )
    return results


def _probe(name: str, make: Callable[[], VideoSource]) -> CheckResult:
    started = time.monotonic()
    source: VideoSource | None = None
    try:
        source = make()
        info = source.open()
        what = _what_it_sends(source.codec or info.codec, source.encoder_name)
        packets = source.packets()
        try:
            first = next(packets, None)
        finally:
            close = getattr(packets, "close", None)  # a generator: end it before the source
            if close is not None:
                close()
        if first is None:
            return CheckResult(name, False, "opened, but it ended before sending any video")
    except Exception as exc:  # every failure is a report line, never a traceback
        return CheckResult(name, False, f"{_reason(exc)}{_hint(exc)}")
    finally:
        if source is not None:
            try:
                source.close()
            except Exception:
                pass
    took = time.monotonic() - started
    return CheckResult(
        name,
        True,
        f"{info.width}x{info.height} at {info.fps:.3g} fps ({what}), "
        f"first video after {took:.1f} s",
    )


def _what_it_sends(codec: str, encoder: str | None) -> str:
    if encoder is None:
        return codec  # H.264, kept as it is
    if codec == "rawvideo":
        return f"h264, encoded with {encoder}"
    return f"{codec}, transcoded to H.264 with {encoder}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return exc.reason
    return f"unexpected {type(exc).__name__}: {exc}"


def _hint(exc: BaseException) -> str:
    if "busy" in str(exc).lower():
        return " (the running agent may hold it: stop the agent to check this camera)"
    return ""
