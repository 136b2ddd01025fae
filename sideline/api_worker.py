"""What each of several API worker processes serves (``sideline cloud api --workers N``).

uvicorn starts every worker as a fresh interpreter and imports this factory in
it; the parent names the config file in :data:`CONFIG_ENV` (its overrides travel
as ``SIDELINE_CLOUD_*`` variables, which every worker inherits).
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

__all__ = ["CONFIG_ENV", "app"]

CONFIG_ENV = "SIDELINE_API_WORKER_CONFIG"


def app() -> FastAPI:
    from cloud.api.app import create_app
    from cloud.config import load_cloud_config
    from sideline.logs import configure_logging

    path = os.environ.get(CONFIG_ENV)
    config = load_cloud_config(Path(path) if path else None)
    configure_logging(config.log_level, log_format=config.log_format)
    return create_app(config)
