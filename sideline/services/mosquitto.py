"""A Mosquitto 2 broker with its own config, password file and ACL file.

The password hashes are Mosquitto's ``$7$`` format, written in Python
(:func:`core.credentials.hash_password`) so that the cloud can generate
credentials on a host without ``mosquitto_passwd``.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from core.credentials import hash_password
from sideline.services.process import ManagedProcess, ServiceError, free_port, port_is_open

__all__ = ["MosquittoBroker", "render_password_file"]


def render_password_file(users: Mapping[str, str]) -> str:
    """``username:hash`` lines for Mosquitto's ``password_file``."""
    lines = []
    for username, password in users.items():
        if not username or ":" in username or any(c in username for c in "+#/\n"):
            raise ValueError(f"invalid MQTT username {username!r}")
        lines.append(f"{username}:{hash_password(password)}")
    return "\n".join(lines) + "\n"


def find_mosquitto() -> str:
    found = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.path.exists(p)), None
    )
    if found is None:
        raise ServiceError(
            "mosquitto is not installed; run `make setup` (as root it runs apt-get install mosquitto)"
        )
    return found


class MosquittoBroker:
    """A broker on 127.0.0.1 with persistence in ``data_dir``.

    ``users`` maps username to password; ``acl`` is the text of an ACL file (None:
    every authenticated user may do anything). With no users, anonymous access
    is allowed.

    With ``cloud_users`` the broker has the production layout (docs/security.md):
    ``port`` is the devices' listener, where the broker takes each client's id
    from its username (``use_username_as_clientid``), so a device can only ever
    be its own client; ``cloud_port`` is the cloud services' listener, with its
    own password and ACL files (``cloud_users``, ``cloud_acl``), where no device
    credential logs in.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        cloud_port: int | None = None,
        cloud_users: Mapping[str, str] | None = None,
        cloud_acl: str | None = None,
        max_queued_messages: int = 1_000_000,
        extra_config: str = "",
    ) -> None:
        self.data_dir = data_dir
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.users = dict(users or {})
        self.acl = acl
        self.cloud_users = dict(cloud_users) if cloud_users is not None else None
        self.cloud_acl = cloud_acl
        self.cloud_port = (cloud_port or free_port()) if cloud_users is not None else self.port
        self.max_queued_messages = max_queued_messages
        self.extra_config = extra_config
        self.config_path = data_dir / "mosquitto.conf"
        self._process = ManagedProcess(
            "mosquitto",
            [find_mosquitto(), "-c", str(self.config_path)],
            log_path=data_dir / "mosquitto.log",
            term_timeout_s=5.0,
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "persistence true",
            f"persistence_location {self.data_dir}/",
            "autosave_interval 1",
            f"max_queued_messages {self.max_queued_messages}",
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if os.geteuid() == 0:
            # As root Mosquitto drops to the 'mosquitto' user, which cannot read our files.
            lines.append("user root")
        if self.cloud_users is None:
            lines.append(f"listener {self.port} {self.host}")
            lines += self._auth("", self.users, self.acl)
        else:
            lines.append("per_listener_settings true")
            lines += [f"listener {self.port} {self.host}", "use_username_as_clientid true"]
            lines += self._auth("devices.", self.users, self.acl)
            lines.append(f"listener {self.cloud_port} {self.host}")
            lines += self._auth("cloud.", self.cloud_users, self.cloud_acl)
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    def _auth(self, prefix: str, users: Mapping[str, str], acl: str | None) -> list[str]:
        lines = [f"allow_anonymous {'false' if users else 'true'}"]
        if users:
            password_file = self.data_dir / f"{prefix}passwd"
            password_file.write_text(render_password_file(users))
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if acl is not None:
            acl_file = self.data_dir / f"{prefix}acl"
            acl_file.write_text(acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        return lines

    def start(self, timeout_s: float = 10.0) -> None:
        self.write_config()
        self._process.start()
        self._process.wait_until(
            lambda: port_is_open(self.host, self.port) and port_is_open(self.host, self.cloud_port),
            timeout_s=timeout_s,
            what=f"port {self.port}",
        )

    def stop(self) -> None:
        self._process.stop()

    def kill(self) -> None:
        """SIGKILL: the broker loses whatever it had not saved, as in a crash."""
        self._process.kill()

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(
        self,
        *,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        cloud_users: Mapping[str, str] | None = None,
    ) -> None:
        """Rewrite the password and ACL files and make the running broker re-read them."""
        if users is not None:
            self.users = dict(users)
        if acl is not None:
            self.acl = acl
        if cloud_users is not None:
            self.cloud_users = dict(cloud_users)
        self.write_config()
        self._process.send_signal(signal.SIGHUP)

    def log_tail(self, lines: int = 30) -> str:
        return self._process.log_tail(lines)
