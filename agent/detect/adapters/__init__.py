"""Output adapters: one per layout that detectors are commonly exported in."""

from __future__ import annotations

from agent.detect.adapters.base import Candidates, OutputAdapter
from agent.detect.adapters.centerface import CenterfaceAdapter
from agent.detect.adapters.nanodet import NanodetAdapter
from agent.detect.adapters.ssd import NmsAdapter, SsdAdapter
from agent.detect.adapters.yolo import YoloV5Adapter, YoloV8Adapter, YoloxAdapter
from agent.detect.manifest import ModelFormat, ModelManifest

__all__ = ["Candidates", "OutputAdapter", "adapter_for"]

_ADAPTERS: dict[ModelFormat, type[OutputAdapter]] = {
    ModelFormat.YOLOV5: YoloV5Adapter,
    ModelFormat.YOLOV8: YoloV8Adapter,
    ModelFormat.YOLOX: YoloxAdapter,
    ModelFormat.NANODET: NanodetAdapter,
    ModelFormat.SSD: SsdAdapter,
    ModelFormat.NMS: NmsAdapter,
    ModelFormat.CENTERFACE: CenterfaceAdapter,
}


def adapter_for(manifest: ModelManifest) -> OutputAdapter:
    return _ADAPTERS[manifest.format](manifest)
