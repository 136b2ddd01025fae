"""The real agent under power cuts: a running box, and a store on a disk that can lose power.

:class:`Box` is ``sideline agent run`` as a child process on a file camera, with its
LAN trigger (the phone's button), the real broker, SeaweedFS and the cloud's ingest.

:class:`LoopDisk` is an ext4 file system on a loop device (root only). A power cut
is simulated by SIGKILLing the writer and at once copying the loop device's
*backing file*: it holds what the file system had sent to the device, and not
what was still in the kernel's page cache (the dirty pages a power cut loses).
The copy is mounted on a second loop device, where ext4 replays its journal as
at a reboot, and the agent starts on that. (device-mapper, for ``dm-flakey``, is
not in this kernel; a forced unmount of ext4 still writes the page cache back.)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from agent.capture.config import FileCameraConfig
from agent.config import AgentConfig
from sideline.services.process import free_port
from tests.agent.sync.conftest import config_json
from tests.agent.test_daemon import json_to_toml
from tests.procs import child_env, sideline_argv
from tests.waiting import wait_until

__all__ = ["Box", "LoopDisk", "box_config", "loop_devices_work"]


def box_config(base: AgentConfig, video: Path, **sections: dict[str, Any]) -> AgentConfig:
    """``base`` (from ``agent_config``) on a file camera with its LAN trigger enabled."""
    camera = FileCameraConfig(id="cam1", path=video, loop=True, realtime=True)
    lan = {
        "enabled": True,
        "host": "127.0.0.1",
        "port": free_port(),
        "token": secrets.token_hex(16),
    }
    values = json.loads(config_json(base))
    values["cameras"] = [json.loads(camera.model_dump_json())]
    values["triggers"] = {"lan": lan}
    for name, overrides in sections.items():
        values[name] = {**values.get(name, {}), **overrides}
    return AgentConfig(**values)


class Box:
    """``sideline agent run`` with ``config``, started and killed as a power cut would."""

    def __init__(self, config: AgentConfig, work: Path) -> None:
        self.config = config
        self.work = work
        self.toml = work / "agent.toml"
        self.toml.write_text(json_to_toml(config_json(config)))
        self.log = work / "agent.log"
        self.process: subprocess.Popen[bytes] | None = None
        lan = config.triggers.lan
        assert lan.token is not None
        self.url = f"http://127.0.0.1:{lan.port}"
        self.token = lan.token.get_secret_value()

    def start(self) -> None:
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                sideline_argv("agent", "run", "--config", str(self.toml)),
                env=child_env(),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        wait_until(self._streaming, timeout_s=60, what=f"the box streaming (log {self.log})")

    def _streaming(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"the agent exited: {self.log.read_text()[-3000:]}")
        try:
            cameras = self._call("GET", "/v1/status").get("cameras") or []
        except OSError:
            return False
        return bool(cameras) and all(camera.get("state") == "streaming" for camera in cameras)

    def press(self, note: str = "corner") -> str:
        """The phone's button; returns the clip id the box promised."""
        answer = self._call("POST", "/v1/clips", {"note": note})
        [clip_id] = answer["clip_ids"]
        return str(clip_id)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def kill(self) -> None:
        """SIGKILL: no drain, no goodbye, as when the power goes."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def data_dir(self) -> Path:
        return self.config.device.data_dir


def loop_devices_work() -> str | None:
    """None when loop devices can be used here; else why not (for the skip message)."""
    if os.geteuid() != 0:
        return "a loop device needs root"
    for tool in ("losetup", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


class LoopDisk:
    """An ext4 file system of ``size_mib`` on a loop device, mounted at ``mount``."""

    def __init__(self, image: Path, mount: Path, size_mib: int = 256) -> None:
        self.image = image
        self.mount = mount
        self.device: str | None = None
        if not image.exists():
            with image.open("wb") as handle:
                handle.truncate(size_mib * 1024 * 1024)
            _run(
                "mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", str(image)
            )

    def attach(self) -> LoopDisk:
        self.device = _run("losetup", "--find", "--show", str(self.image)).strip()
        self.mount.mkdir(parents=True, exist_ok=True)
        # commit=60: ext4 keeps dirty data and metadata longer than its default 5 s, so
        # a cut really loses what was not fsynced (the agent's durability is fsync's).
        _run("mount", "-o", "commit=60", self.device, str(self.mount))
        return self

    def power_cut(self, into: Path) -> LoopDisk:
        """What the device held at this instant, as a new disk (not yet attached). The
        writer must already be dead; this disk is then detached, its page cache dropped."""
        shutil.copyfile(self.image, into)  # the device's blocks, not the page cache
        self.detach()
        return LoopDisk(into, self.mount)

    def detach(self) -> None:
        if self.device is None:
            return
        for _ in range(50):
            if subprocess.run(["umount", str(self.mount)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            subprocess.run(["umount", "-l", str(self.mount)], capture_output=True)
        subprocess.run(["losetup", "-d", self.device], capture_output=True)
        self.device = None


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout
