"""The [detect] section: the documented example loads, bad references are named."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from agent.detect.config import DetectConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "detect.md"


def test_the_documented_example_is_valid() -> None:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    config = DetectConfig.model_validate(tomllib.loads(block.group(1))["detect"])
    assert [r.name for r in config.rules] == ["ball-in-goal", "crowded-box"]
    assert config.camera("goal").enabled is False and config.camera("main").enabled is True
    assert config.manifest_path() == Path("/var/lib/sideline/models/yolov8n-320.json")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"rules": [{"name": "r", "kind": "enter", "zone": "nowhere"}]}, "names zone 'nowhere'"),
        ({"rules": [{"name": "r", "kind": "count_above"}]}, "'count_above' needs a zone"),
        ({"enabled": True}, "detect.model is not set"),
        ({"motion": {"masks": [[[0, 0], [1, 1]]]}}, "at least 3 items"),
        ({"motion": {"masks": [[[0, 0], [2, 0], [1, 1]]]}}, "less than or equal to 1"),
        ({"cameras": [{"camera_id": "a"}, {"camera_id": "a"}]}, "one entry per camera"),
        (
            {
                "zones": [{"name": "z", "camera_id": "a", "polygon": [[0, 0], [1, 0], [1, 1]]}],
                "rules": [{"name": "r", "kind": "enter", "zone": "z", "camera_id": "b"}],
            },
            "on camera 'b'",
        ),
    ],
)
def test_bad_detect_config_is_named(data: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DetectConfig.model_validate(data)
    assert fragment in str(caught.value)
