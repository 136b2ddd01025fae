"""Cameras, the encoded pre-roll and clips (see docs/capture.md).

The daemon uses :class:`agent.capture.service.CaptureService`; the parts:
``sources``/``demux``/``raw``/``picamera`` (cameras), ``encoder``, ``pattern``,
``packets`` (the one packet form), ``runner`` (reconnecting capture loop),
``ring`` (pre-roll), ``frametap`` (frames for detection), ``clipwriter`` +
``clipcommit`` + ``clipfile`` + ``timeline`` + ``atomic`` (clips), ``recorder`` +
``segments`` (continuous recording).
"""
