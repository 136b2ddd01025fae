"""Configuration of detection: model, rate, motion gate, tracker, zones, events and rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from core.settings import Section
from protocol.ids import Segment

__all__ = [
    "CameraDetectConfig",
    "DetectConfig",
    "EventsConfig",
    "MotionConfig",
    "Polygon",
    "RuleConfig",
    "TrackerConfig",
    "ZoneConfig",
]

Fraction = Annotated[float, Field(ge=0, le=1)]
Polygon = Annotated[
    list[tuple[Fraction, Fraction]],
    Field(min_length=3, description="Vertices as fractions of the frame (x, y in 0..1)."),
]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MotionConfig(Section):
    """The cheap gate in front of the detector: a still field costs almost nothing."""

    enabled: bool = True
    sensitivity: float = Field(
        default=0.5, ge=0, le=1, description="Higher finds smaller or fainter motion."
    )
    min_area_fraction: float = Field(
        default=0.002, ge=0, le=1, description="Changed pixels (fraction of the frame) for motion."
    )
    width: int = Field(
        default=160, ge=32, le=640, description="Width of the small image the gate compares."
    )
    masks: list[Polygon] = Field(
        default_factory=list, description="Regions whose motion is ignored (flags, trees, a road)."
    )
    refresh_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="Run the detector at least this often on a still scene (0: never).",
    )
    crop: bool = Field(
        default=False, description="Run the detector on the region of motion only, when small."
    )
    crop_margin: float = Field(
        default=0.25, ge=0, le=2, description="Grow the motion region by this fraction per side."
    )


class ZoneConfig(Section):
    name: Segment
    camera_id: Segment
    polygon: Polygon
    anchor: Literal["center", "bottom"] = Field(
        default="center",
        description="The point of a box that must be inside: its centre, or its bottom middle (feet).",
    )


class CameraDetectConfig(Section):
    """Per-camera switches; the cloud's desired state may narrow them further."""

    camera_id: Segment
    enabled: bool = True
    classes: list[Label] | None = Field(default=None, description="Empty: the model's classes.")
    fps: float | None = Field(default=None, gt=0, le=60, description="Empty: detect.fps.")


class TrackerConfig(Section):
    iou_threshold: float = Field(
        default=0.2, ge=0, le=1, description="Least overlap (with the predicted box) to match."
    )
    min_hits: int = Field(
        default=2, ge=1, le=30, description="Detections before a track is confirmed (has events)."
    )
    max_missed: int = Field(
        default=5, ge=1, le=300, description="Inferences a track may be missed before it ends."
    )
    max_jump: float = Field(
        default=2.5,
        ge=0,
        le=20,
        description="With no overlap, match the nearest detection within this many box sizes.",
    )


class EventsConfig(Section):
    zone_debounce: int = Field(
        default=2, ge=1, le=30, description="Observations in a row before inside/outside changes."
    )
    frame_events: bool = Field(
        default=False, description="Also send enter/leave for the whole frame."
    )
    count_interval_s: float = Field(
        default=60.0, ge=0, le=3600, description="Counts per zone and class over this (0: off)."
    )
    max_events_per_minute: int = Field(
        default=120, ge=1, le=100_000, description="Per camera; rule events are never dropped."
    )
    summary_interval_s: float = Field(
        default=300.0, ge=0, le=86_400, description="A summary log per camera this often (0: off)."
    )


class RuleConfig(Section):
    """When to fire the clip trigger, e.g. 'ball enters goal' or 'more than 6 people in box'."""

    name: Segment
    kind: Literal["enter", "count_above"]
    zone: Segment | None = Field(
        default=None, description="Zone name; empty for 'enter' means entering the frame."
    )
    camera_id: Segment | None = Field(default=None, description="Empty: every camera.")
    classes: list[Label] = Field(default_factory=list, description="Empty: any class.")
    count: int = Field(default=1, ge=0, le=1000, description="count_above fires above this.")
    for_s: float = Field(default=0.0, ge=0, le=600, description="Condition must hold this long.")
    cooldown_s: float = Field(default=30.0, ge=0, le=86_400)
    clip: bool = Field(default=True, description="Fire the clip trigger (else only an event).")
    pre_s: float | None = Field(default=None, ge=0, le=300)
    post_s: float | None = Field(default=None, ge=0, le=600)

    @model_validator(mode="after")
    def _count_needs_zone(self) -> RuleConfig:
        if self.kind == "count_above" and self.zone is None:
            raise ValueError(f"rule {self.name!r}: kind 'count_above' needs a zone")
        return self


class DetectConfig(Section):
    enabled: bool = False
    model: Path | None = Field(default=None, description="The .onnx file.")
    manifest: Path | None = Field(
        default=None, description="The model's manifest; empty: the model path with '.json'."
    )
    fps: float = Field(default=5.0, gt=0, le=60, description="Inferences per second per camera.")
    threads: int = Field(default=2, ge=1, le=16, description="onnxruntime intra-op threads.")
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        description="onnxruntime execution providers in order of preference.",
    )
    trt_cache_dir: Path | None = Field(
        default=None, description="TensorRT engine cache (Jetson); empty: {data_dir}/trt-cache."
    )
    trt_fp16: bool = Field(default=True, description="Let TensorRT build FP16 engines.")
    warmup_runs: int = Field(default=2, ge=0, le=20)
    models_dir: Path | None = Field(
        default=None, description="Models fetched from the cloud; empty: {data_dir}/models."
    )
    download_timeout_s: float = Field(default=120.0, gt=0, le=3600)
    max_model_bytes: int = Field(default=512 * 1024**2, ge=1024)
    score_threshold: float | None = Field(
        default=None, ge=0, le=1, description="Empty: the manifest's."
    )
    classes: list[Label] | None = Field(default=None, description="Empty: the model's classes.")
    cameras: list[CameraDetectConfig] = Field(default_factory=list)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    zones: list[ZoneConfig] = Field(default_factory=list)
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> DetectConfig:
        if self.enabled and self.model is None:
            raise ValueError(
                "detect.enabled is true but detect.model is not set: name the .onnx file"
            )
        zones = {(zone.camera_id, zone.name) for zone in self.zones}
        if len(zones) != len(self.zones):
            raise ValueError("zone names must be unique per camera")
        names = [rule.name for rule in self.rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique")
        for rule in self.rules:
            if rule.zone is None:
                continue
            found = [c for c, z in zones if z == rule.zone]
            if not found or (rule.camera_id is not None and rule.camera_id not in found):
                where = f" on camera {rule.camera_id!r}" if rule.camera_id else ""
                raise ValueError(
                    f"rule {rule.name!r} names zone {rule.zone!r}{where}, which is not "
                    f"configured (zones: {', '.join(sorted(f'{c}/{z}' for c, z in zones)) or 'none'})"
                )
        camera_ids = [camera.camera_id for camera in self.cameras]
        if len(set(camera_ids)) != len(camera_ids):
            raise ValueError("detect.cameras: one entry per camera")
        return self

    def manifest_path(self) -> Path | None:
        if self.manifest is not None:
            return self.manifest
        return None if self.model is None else self.model.with_suffix(".json")

    def camera(self, camera_id: str) -> CameraDetectConfig:
        for entry in self.cameras:
            if entry.camera_id == camera_id:
                return entry
        return CameraDetectConfig(camera_id=camera_id)
