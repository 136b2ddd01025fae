"""The agent's botocore: S3's endpoints and the S3 operations the agent calls, nothing else."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import botocore
import pytest
from botocore import xform_name
from botocore.exceptions import EndpointConnectionError

from agent.sync.botocore_data import S3_OPERATIONS, compact_session
from agent.sync.config import S3Config
from agent.sync.objectstore import S3ObjectStore

AGENT = Path(__file__).resolve().parents[3] / "agent"


def s3_config() -> S3Config:
    return S3Config(
        bucket="bucket",
        endpoint_url="http://127.0.0.1:9",
        access_key_id="key",
        secret_access_key="secret",
    )


def all_s3_methods() -> set[str]:
    data = Path(botocore.__file__).parent / "data" / "s3"
    model = json.loads(gzip.decompress(next(data.glob("*/service-2.json.gz")).read_bytes()))
    return {xform_name(name) for name in model["operations"]}


def test_the_compact_client_has_exactly_the_operations_the_agent_calls(tmp_path: Path) -> None:
    client = S3ObjectStore(s3_config(), cache_dir=tmp_path)._client  # the agent's own client
    kept = {xform_name(name) for name in S3_OPERATIONS}
    for method in all_s3_methods():
        assert hasattr(client, method) == (method in kept), method
    assert client.meta.endpoint_url == "http://127.0.0.1:9"
    # A request gets as far as the network (the model holds all that signing and the
    # endpoint rules read): nothing listens on port 9.
    with pytest.raises(EndpointConnectionError):
        client.head_object(Bucket="bucket", Key="org/device/clip.mp4")
    folder = next(tmp_path.glob("botocore-*"))
    endpoints = json.loads((folder / "endpoints.json").read_text())
    for partition in endpoints["partitions"]:
        assert set(partition["services"]) <= {"s3"}, partition["partition"]
    assert "s3" in endpoints["partitions"][0]["services"]


def test_every_s3_operation_called_in_the_agent_is_kept() -> None:
    """A new call on the client must be added to S3_OPERATIONS, or it fails on the box."""
    s3_methods = all_s3_methods()
    kept = {xform_name(name) for name in S3_OPERATIONS}
    called = set()
    for source in AGENT.rglob("*.py"):
        for method in re.findall(r"client\.([a-z_]+)\b", source.read_text()):
            if method in s3_methods:
                called.add(method)
    assert called, "the scan found no S3 calls: is the pattern still right?"
    assert called <= kept, sorted(called - kept)


def test_broken_data_falls_back_to_botocores_own(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")  # the compact data cannot be written under it
    session = compact_session(blocker)
    assert session.get_config_variable("data_path") is None
    client = session.create_client(
        "s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    assert hasattr(client, "list_buckets")


def test_the_compact_data_is_written_once_and_reused(tmp_path: Path) -> None:
    S3ObjectStore(s3_config(), cache_dir=tmp_path)
    files = sorted(tmp_path.rglob("*.json"))
    assert [f.name for f in files] == ["endpoints.json", "service-2.json"]
    stamps = [f.stat().st_mtime_ns for f in files]
    S3ObjectStore(s3_config(), cache_dir=tmp_path)  # the next start
    assert [f.stat().st_mtime_ns for f in files] == stamps
    assert not list(tmp_path.rglob("*.partial"))


def test_a_cache_file_a_power_cut_left_empty_is_written_again(tmp_path: Path) -> None:
    S3ObjectStore(s3_config(), cache_dir=tmp_path)
    table = next(tmp_path.rglob("endpoints.json"))
    size = table.stat().st_size
    table.write_bytes(b"\0" * 4096)  # what ext4 can leave of an unsynced file
    client = S3ObjectStore(s3_config(), cache_dir=tmp_path)._client
    assert table.stat().st_size == size
    assert hasattr(client, "upload_part")
