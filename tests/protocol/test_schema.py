"""The committed JSON Schema in docs/protocol/ must match the code."""

from __future__ import annotations

import json
from pathlib import Path

from protocol import CHANNEL_MODELS
from protocol.schema import render_schemas

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol"


def test_committed_schema_is_up_to_date() -> None:
    rendered = render_schemas()
    committed = {p.name: p.read_text() for p in DOCS.glob("*.schema.json")}
    stale = sorted(name for name in rendered if committed.get(name) != rendered[name])
    extra = sorted(set(committed) - set(rendered))
    assert not stale and not extra, (
        f"docs/protocol is stale (changed: {stale}, no longer generated: {extra}); "
        "run `sideline protocol schema` and commit the result"
    )


def test_there_is_one_schema_per_channel_and_it_is_json_schema() -> None:
    rendered = render_schemas()
    assert len(rendered) == len(CHANNEL_MODELS)
    for text in rendered.values():
        schema = json.loads(text)
        assert schema["type"] == "object"
        assert {"protocol", "message_id", "org", "device_id", "sent_at"} <= set(
            schema["properties"]
        )
        assert schema["additionalProperties"] is False
