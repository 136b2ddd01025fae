"""A botocore session that loads a small endpoints table: the box talks to S3 only.

botocore loads ``endpoints.json`` (1.2 MB of JSON: every region of every AWS
service) into every process that makes a client and keeps it for the
client's life: 6.7 MiB of Python objects, measured on the agent
(docs/budget.md). The box needs only S3's entries. botocore reads its data
files from the search path in the ``data_path`` setting (``AWS_DATA_PATH``)
before its own, so the table is written once, cut down from the installed
botocore's own file (every partition kept, of its services only S3), into
the agent's cache directory under the botocore version, and the session
looks there first. Anything that goes wrong falls back to botocore's own
table, at the old cost.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

__all__ = ["SERVICES_KEPT", "compact_session"]

log = logging.getLogger(__name__)

SERVICES_KEPT = frozenset({"s3"})


def compact_session(cache_dir: Path | None) -> Any:
    """A ``boto3.session.Session`` whose botocore looks in ``cache_dir`` first."""
    import boto3
    import botocore.session

    session = botocore.session.Session()
    if cache_dir is not None:
        data_path = _compact_data_path(cache_dir)
        if data_path is not None:
            session.set_config_variable("data_path", str(data_path))
    return boto3.session.Session(botocore_session=session)


def _compact_data_path(cache_dir: Path) -> Path | None:
    import botocore

    folder = cache_dir / f"botocore-{botocore.__version__}"
    table = folder / "endpoints.json"
    if table.exists():
        return folder
    builtin = Path(botocore.__file__).parent / "data" / "endpoints.json"
    try:
        data = json.loads(builtin.read_bytes())
        for partition in data["partitions"]:
            services = partition.get("services", {})
            partition["services"] = {k: v for k, v in services.items() if k in SERVICES_KEPT}
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".endpoints.json.{os.getpid()}.partial"
        temp.write_text(json.dumps(data, separators=(",", ":")))
        os.replace(temp, table)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("using botocore's whole endpoints table (%s): %s", builtin, exc)
        return None
    return folder
