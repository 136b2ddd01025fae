"""Opening the configured model at start-up, and describing it for `sideline agent check`."""

from __future__ import annotations

import time
from pathlib import Path

from agent.checks import CheckResult
from agent.detect.config import DetectConfig
from agent.detect.detector import Detector
from agent.detect.errors import ModelError
from agent.detect.manifest import load_manifest
from agent.detect.model import load_model
from agent.detect.session import SessionSettings

__all__ = ["check_detection", "describe_detection", "open_detector", "session_settings"]


def session_settings(config: DetectConfig, data_dir: Path) -> SessionSettings:
    return SessionSettings(
        threads=config.threads,
        providers=tuple(config.providers),
        trt_cache_dir=config.trt_cache_dir or data_dir / "trt-cache",
        trt_fp16=config.trt_fp16,
    )


def open_detector(config: DetectConfig, data_dir: Path) -> Detector:
    """Load, verify and warm up the configured model; :class:`ModelError` says what is wrong."""
    manifest_path = config.manifest_path()
    if config.model is None or manifest_path is None:
        raise ModelError("detect.model is not set: name the .onnx file")
    manifest = load_manifest(manifest_path)
    model = load_model(
        config.model,
        manifest,
        session_settings(config, data_dir),
        warmup_runs=config.warmup_runs,
    )
    return Detector(model, score_threshold=config.score_threshold)


def describe_detection(config: DetectConfig, data_dir: Path) -> list[str]:
    """Lines for `sideline agent check`; loads and runs the model, so a wrong one fails here."""
    if not config.enabled:
        return ["  detect   off"]
    started = time.perf_counter()
    detector = open_detector(config, data_dir)
    seconds = time.perf_counter() - started
    model = detector.model
    spec = model.manifest.input
    classes = ", ".join(model.manifest.classes[:8]) + (
        ", ..." if len(model.manifest.classes) > 8 else ""
    )
    return [
        f"  detect   {model.path} ({model.manifest.format}, {spec.width}x{spec.height}, "
        f"{len(model.manifest.classes)} classes: {classes})",
        f"           sha256 {model.sha256}; providers {', '.join(model.providers)}; "
        f"loaded and warmed up in {seconds:.2f} s; {config.fps:g} fps per camera",
    ]


def check_detection(config: DetectConfig, data_dir: Path) -> tuple[list[str], CheckResult | None]:
    """``sideline agent check``'s detection: the description lines, and a failed check when the
    model cannot be used (None when it can, or detection is off). Never raises."""
    try:
        return describe_detection(config, data_dir), None
    except (ModelError, OSError) as exc:
        model = config.model or "(detect.model not set)"
        return (
            [f"  detect   {model}: cannot be used (see below)"],
            CheckResult("detection model", False, str(exc)),
        )
