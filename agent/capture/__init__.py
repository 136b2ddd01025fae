"""Cameras, the encoded pre-roll and clips (see docs/capture.md).

The daemon uses :class:`agent.capture.service.CaptureService`. Beside it:
``packets`` (the one packet form every source yields), ``runner`` (one camera's
reconnecting capture loop), ``ring`` (the pre-roll), ``frametap`` (frames for
detection) and ``config``; and three subsystems, each naming its public classes
in its ``__init__``: ``sources`` (cameras), ``clips`` (a trigger's window to an
MP4) and ``recording`` (continuous segments).
"""
