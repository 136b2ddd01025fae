"""Configuration of detection: model, rate, motion gate, zones and rules."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from protocol.ids import Segment
from sideline.settings import Section

__all__ = ["DetectConfig", "MotionConfig", "ZoneConfig"]


class MotionConfig(Section):
    enabled: bool = True
    sensitivity: float = Field(
        default=0.5, ge=0, le=1, description="Higher finds smaller or fainter motion."
    )
    min_area_fraction: float = Field(default=0.002, ge=0, le=1)


class ZoneConfig(Section):
    name: Segment
    camera_id: Segment
    polygon: list[tuple[float, float]] = Field(
        min_length=3, description="Vertices as fractions of the frame (x, y in 0..1)."
    )


class DetectConfig(Section):
    enabled: bool = False
    model: Path | None = Field(default=None, description="The .onnx file; its manifest beside it.")
    fps: float = Field(default=5.0, gt=0, le=60)
    threads: int = Field(default=2, ge=1, le=16)
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="onnxruntime execution providers in order of preference.",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig)
    zones: list[ZoneConfig] = Field(default_factory=list)
