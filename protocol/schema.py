"""JSON Schema of every message, one file per channel (``docs/protocol/``)."""

from __future__ import annotations

import json
from pathlib import Path

from protocol.codec import CHANNEL_MODELS
from protocol.envelope import PROTOCOL_VERSION
from protocol.topics import DOWN_CHANNELS, TOPIC_VERSION

__all__ = ["render_schemas", "write_schemas"]


def render_schemas() -> dict[str, str]:
    """File name -> JSON text, deterministic so the committed copy can be compared."""
    files: dict[str, str] = {}
    for channel, model in CHANNEL_MODELS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"sideline/protocol/{PROTOCOL_VERSION}/{channel.value}.schema.json"
        direction = "cloud -> device" if channel in DOWN_CHANNELS else "device -> cloud"
        schema["$comment"] = (
            f"Topic {{prefix}}/{TOPIC_VERSION}/{{org}}/{{device}}/{channel.value} ({direction})"
        )
        files[f"{channel.value}.schema.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_schemas().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
