"""One call from a BGR frame to boxes on that frame: pre-process, infer, decode, NMS."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from agent.detect.model import LoadedModel
from agent.detect.nms import nms_per_class
from agent.detect.preprocess import Preprocessor

__all__ = ["Detections", "Detector", "Timings"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Timings:
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True, slots=True, eq=False)
class Detections:
    """Boxes on the source frame, best first."""

    boxes: FloatArray  # N x 4: x1, y1, x2, y2 in source-frame pixels
    scores: FloatArray
    class_ids: IntArray
    class_names: tuple[str, ...]  # the model's classes (index with class_ids)
    width: int  # source frame size
    height: int
    timings: Timings = field(default_factory=lambda: Timings(0.0, 0.0, 0.0))

    def __len__(self) -> int:
        return len(self.scores)

    def label(self, index: int) -> str:
        return self.class_names[int(self.class_ids[index])]


class Detector:
    """Runs one loaded model; not thread-safe (the detection worker owns it)."""

    def __init__(self, model: LoadedModel, *, score_threshold: float | None = None) -> None:
        self.model = model
        self.manifest = model.manifest
        self.classes = tuple(model.manifest.classes)
        self.score_threshold = (
            model.manifest.score_threshold if score_threshold is None else score_threshold
        )
        self._preprocess = Preprocessor(model.manifest.input)
        self._run = model.session.run
        self._feed_name = model.input_name

    def class_mask(self, enabled: set[str] | None) -> BoolArray | None:
        """A mask over the model's classes for a set of enabled names (None: all)."""
        if enabled is None:
            return None
        return np.array([name in enabled for name in self.classes], dtype=bool)

    def detect(
        self,
        image: npt.NDArray[np.uint8],
        roi: tuple[int, int, int, int] | None = None,
        class_mask: BoolArray | None = None,
    ) -> Detections:
        """Detect in ``image`` (BGR), or only in its ``roi`` (x, y, w, h); boxes on ``image``."""
        started = time.perf_counter()
        tensor, letterbox = self._preprocess(image, roi)
        prepared = time.perf_counter()
        outputs = self._run(None, {self._feed_name: tensor})
        inferred = time.perf_counter()
        candidates = self.model.adapter.decode(outputs, self.score_threshold, class_mask)
        limit = self.manifest.max_detections
        if candidates.suppressed:
            keep = np.argsort(-candidates.scores, kind="stable")[:limit]
        else:
            keep = nms_per_class(
                candidates.boxes,
                candidates.scores,
                candidates.class_ids,
                self.manifest.nms_threshold,
                limit,
            )
        height, width = image.shape[:2]
        boxes = letterbox.to_source(candidates.boxes[keep].astype(np.float32), width, height)
        finished = time.perf_counter()
        return Detections(
            boxes=boxes,
            scores=candidates.scores[keep],
            class_ids=candidates.class_ids[keep],
            class_names=self.classes,
            width=width,
            height=height,
            timings=Timings(
                (prepared - started) * 1e3, (inferred - prepared) * 1e3, (finished - inferred) * 1e3
            ),
        )
