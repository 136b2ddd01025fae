"""A real RTSP server for tests (Debian's ``rtsp-server-perl``) and a camera that pushes to it.

The server relays what a source publishes with ANNOUNCE/RECORD (port ``source_port``)
to players that DESCRIBE/SETUP/PLAY (port ``client_port``), over RTP/UDP. The
:class:`RtspPublisher` plays a generated test video into it in real time, looped,
through FFmpeg's RTSP muxer, and can pause (a stalled camera) or stop (a camera
that disappears).
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import threading
import time
from pathlib import Path

import av

from sideline.services.process import ManagedProcess, free_port, port_is_open

__all__ = ["PasswordRefusingCamera", "RtspPublisher", "RtspServer"]


_WITH_OWN_RTP_PORTS = """
use RTSP::Server;
$RTSP::Server::RTP_START_PORT = shift @ARGV;
my $script = shift @ARGV;
do $script;
die $@ if $@;
"""


class RtspServer:
    def __init__(self, log_path: Path) -> None:
        executable = shutil.which("rtsp-server-perl")
        if executable is None:
            raise RuntimeError(
                "rtsp-server-perl is not installed: apt-get install rtsp-server-perl (scripts/setup.sh does)"
            )
        self.client_port = free_port()
        self.source_port = free_port()
        # Its RTP ports count up from 20,000, and it goes back to that package-wide
        # default whenever no source is publishing, whatever --rtp_start_port says:
        # two servers on one machine (two test runs at once) would both bind them. So
        # the script runs with the default itself set to a range of this server's own.
        self.rtp_start_port = random.randrange(20_000, 40_000, 2)
        self.process = ManagedProcess(
            "rtsp-server-perl",
            [
                "perl",
                "-e",
                _WITH_OWN_RTP_PORTS,
                str(self.rtp_start_port),
                executable,
                "--clientport",
                str(self.client_port),
                "--serverport",
                str(self.source_port),
                "--loglevel",
                "2",
                "--rtp_start_port",
                str(self.rtp_start_port),
            ],
            log_path=log_path,
        )

    def start(self) -> None:
        self.process.start()
        self.process.wait_until(
            lambda: (
                port_is_open("127.0.0.1", self.client_port)
                and port_is_open("127.0.0.1", self.source_port)
            ),
            timeout_s=15,
            what="rtsp-server-perl listening",
        )

    def stop(self) -> None:
        self.process.stop()

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.client_port}/{mount}"

    def publish_url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.source_port}/{mount}"


class RtspPublisher:
    """Pushes ``video`` (H.264 MP4) to ``url`` in real time, looping, until stopped."""

    def __init__(self, video: Path, url: str) -> None:
        self.video = video
        self.url = url
        self.paused = threading.Event()
        self._stop = threading.Event()
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rtsp-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def start_and_wait(self, timeout_s: float = 20.0) -> RtspPublisher:
        """Start, and return once the server takes packets (raise if it refuses)."""
        self.start()
        deadline = time.monotonic() + timeout_s
        while self.sent <= 3 and self.error is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing published to {self.url} in {timeout_s:g} s")
            time.sleep(0.02)
        if self.error is not None:
            raise AssertionError(f"publishing to {self.url} failed: {self.error!r}")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            with av.open(str(self.video)) as source:
                template = source.streams.video[0]
                with av.open(
                    self.url,
                    "w",
                    format="rtsp",
                    options={"rtsp_transport": "udp", "strict": "experimental"},
                ) as sink:
                    stream = sink.add_stream_from_template(template)
                    self._loop(source, template, sink, stream)
        except BaseException as exc:  # reported to the test through .error
            self.error = exc

    def _loop(
        self,
        source: av.container.InputContainer,
        template: av.video.stream.VideoStream,
        sink: av.container.OutputContainer,
        stream: av.video.stream.VideoStream,
    ) -> None:
        time_base = template.time_base
        assert time_base is not None
        started = time.monotonic()
        offset = 0
        while not self._stop.is_set():
            source.seek(0)
            last = 0
            for packet in source.demux(template):
                if packet.size == 0 or packet.pts is None or self._stop.is_set():
                    continue
                while self.paused.is_set() and not self._stop.is_set():
                    time.sleep(0.02)
                    started += 0.02
                due = started + float((packet.pts + offset) * time_base)
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                # With B-frames the last packet in decode order is not the last shown.
                last = max(last, packet.pts + (packet.duration or 0))
                packet.pts += offset
                packet.dts = (packet.dts or 0) + offset
                packet.stream = stream
                sink.mux(packet)
                self.sent += 1
            offset += last


class PasswordRefusingCamera:
    """An RTSP endpoint that answers every request with ``401 Unauthorized`` (Basic), as a
    camera does to a wrong user name or password. rtsp-server-perl has no authentication;
    this speaks just enough RTSP for FFmpeg's client to try its credentials and give up."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self.port = self._server.getsockname()[1]
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, name="rtsp-401", daemon=True)

    def url(self, user: str, password: str) -> str:
        return f"rtsp://{user}:{password}@127.0.0.1:{self.port}/stream"

    def start(self) -> PasswordRefusingCamera:
        self._thread.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._server.close()
        self._thread.join(5)

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        pending = b""
        with connection:
            while True:
                try:
                    data = connection.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                pending += data
                while b"\r\n\r\n" in pending:
                    head, pending = pending.split(b"\r\n\r\n", 1)
                    lines = head.split(b"\r\n")
                    self.requests.append(lines[0])
                    cseq = next(
                        (
                            line.split(b":", 1)[1].strip()
                            for line in lines
                            if line.lower().startswith(b"cseq")
                        ),
                        b"0",
                    )
                    connection.sendall(
                        b"RTSP/1.0 401 Unauthorized\r\nCSeq: " + cseq + b"\r\n"
                        b'WWW-Authenticate: Basic realm="camera"\r\nContent-Length: 0\r\n\r\n'
                    )
