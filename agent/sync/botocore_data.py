"""A botocore session that loads only what the box uses: S3, and S3's operations the agent calls.

botocore keeps its data files in memory for a client's life: the endpoints of
every AWS service (``endpoints.json``, 1.2 MB of JSON, 6.7 MiB as Python
objects) and the whole S3 API (119 operations, 736 shapes, 3.3 MiB). A box
calls ten S3 operations. botocore reads its data files from the folders in
its ``data_path`` setting (``AWS_DATA_PATH``) before its own, so the agent
writes, once per botocore version, into its cache directory:

* ``endpoints.json`` cut down from botocore's own: every partition kept, of
  its services only S3;
* ``s3/<version>/service-2.json``: S3's model with :data:`S3_OPERATIONS` and
  the shapes they reach, without the documentation strings.

A client from :func:`compact_session` has only those operations (calling
another is an ``AttributeError``, so add it to :data:`S3_OPERATIONS`). It
costs the agent 2.8 MiB instead of 8.6 (boto3's client with the whole
tables: 15 MiB); measured in docs/budget.md. Anything that goes wrong falls
back to botocore's own files, at the old cost. boto3 itself is not imported:
its resource layer and s3transfer are 2.6 MiB the box does not use.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["S3_OPERATIONS", "SERVICES_KEPT", "compact_session"]

log = logging.getLogger(__name__)

SERVICES_KEPT = frozenset({"s3"})
_LAYOUT = 1  # bump when what is kept changes: a box then writes its cache afresh

S3_OPERATIONS = (
    "AbortMultipartUpload",
    "CompleteMultipartUpload",
    "CreateMultipartUpload",
    "DeleteObject",
    "GetObject",  # model downloads, `agent check`
    "HeadObject",
    "ListMultipartUploads",
    "ListParts",
    "PutObject",
    "UploadPart",
)
"""The S3 operations the agent calls (uploader, object store, model fetcher, checks)."""


def compact_session(cache_dir: Path | None) -> Any:
    """A ``botocore.session.Session`` reading the compact data in ``cache_dir`` first
    (None: botocore's own data)."""
    import botocore.session

    session = botocore.session.Session()
    if cache_dir is not None:
        folder = _compact_data(cache_dir)
        if folder is not None:
            session.set_config_variable("data_path", str(folder))
    return session


def _compact_data(cache_dir: Path) -> Path | None:
    import botocore

    folder = cache_dir / f"botocore-{botocore.__version__}-{_LAYOUT}"
    builtin = Path(botocore.__file__).parent / "data"
    try:
        endpoints = folder / "endpoints.json"
        if not _readable(endpoints):
            _write(endpoints, _endpoints(json.loads((builtin / "endpoints.json").read_bytes())))
        for model_path in sorted((builtin / "s3").glob("*/service-2.json*")):
            target = folder / "s3" / model_path.parent.name / "service-2.json"
            if not _readable(target):
                raw = model_path.read_bytes()
                if model_path.suffix == ".gz":
                    raw = gzip.decompress(raw)
                _write(target, _operations(json.loads(raw), S3_OPERATIONS))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("botocore keeps its whole data tables (%s): %s", builtin, exc)
        return None
    return folder


def _endpoints(data: dict[str, Any]) -> dict[str, Any]:
    for partition in data["partitions"]:
        services = partition.get("services", {})
        partition["services"] = {k: v for k, v in services.items() if k in SERVICES_KEPT}
    return data


def _operations(model: dict[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """``model`` with only ``operations`` and the shapes they reach, undocumented."""
    shapes: dict[str, Any] = model["shapes"]
    reached: set[str] = set()

    def reach(name: str) -> None:
        if name in reached:
            return
        reached.add(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                reach(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    kept = {}
    for name in operations:
        operation = model["operations"][name]
        kept[name] = operation
        for key in ("input", "output"):
            if key in operation:
                reach(operation[key]["shape"])
        for error in operation.get("errors", []):
            reach(error["shape"])
    # Only the operations' and shapes' documentation goes: botocore reads other entries'
    # (clientContextParams) as required.
    return {
        **{k: v for k, v in model.items() if k not in ("operations", "shapes", "documentation")},
        "operations": _undocumented(kept),
        "shapes": _undocumented({name: shapes[name] for name in sorted(reached)}),
    }


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _undocumented(v)
            for k, v in value.items()
            if k not in ("documentation", "documentationUrl")
        }
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def _readable(path: Path) -> bool:
    """The file is there and whole. A power cut can leave a file empty or zero-filled
    whatever was done to write it; botocore would then fail to start the agent."""
    try:
        json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def _write(path: Path, data: dict[str, Any]) -> None:
    """Written whole or not at all: a temporary file, fsynced, renamed, the folder fsynced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with temp.open("w") as handle:
        handle.write(json.dumps(data, separators=(",", ":")))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
