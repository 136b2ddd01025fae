"""What every output adapter does: check the outputs, turn them into candidate boxes.

An adapter knows one output layout. It never runs NMS itself (unless the model
did): it returns the candidates above the score threshold, in model-input
pixels as x1, y1, x2, y2, and the detector does the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from agent.detect.manifest import ModelManifest

__all__ = [
    "Candidates",
    "Dim",
    "OutputAdapter",
    "best_class",
    "describe_shape",
    "dims_match",
    "registered_adapters",
]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]
Dim = int | str | None  # a symbolic or unknown dimension is a str or None


@dataclass(frozen=True, slots=True)
class Candidates:
    boxes: FloatArray  # K x 4: x1, y1, x2, y2 in model-input pixels
    scores: FloatArray  # K
    class_ids: IntArray  # K
    suppressed: bool = False  # NMS already done (inside the graph)

    @staticmethod
    def empty() -> Candidates:
        return Candidates(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.intp)
        )


def describe_shape(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def dims_match(found: Sequence[Dim], expected: Sequence[int | None]) -> bool:
    """Same rank, and every fixed dimension equal (symbolic ones match anything)."""
    if len(found) != len(expected):
        return False
    return all(
        e is None or not isinstance(f, int) or f == e for f, e in zip(found, expected, strict=True)
    )


def best_class(
    scores: FloatArray, threshold: float, class_mask: BoolArray | None
) -> tuple[IntArray, FloatArray, IntArray]:
    """For a K x C score matrix: rows whose best allowed class reaches ``threshold``.

    Returns the row indices, their best score and its class.
    """
    allowed: IntArray | None = None
    if class_mask is not None and not class_mask.all():
        allowed = np.flatnonzero(class_mask)
        if allowed.size == 0:
            return np.zeros(0, np.intp), np.zeros(0, np.float32), np.zeros(0, np.intp)
        scores = scores[:, allowed]
    best = scores.max(axis=1)
    rows = np.flatnonzero(best >= threshold)
    classes = scores[rows].argmax(axis=1)
    if allowed is not None:
        classes = allowed[classes]
    return rows, best[rows].astype(np.float32), classes.astype(np.intp)


def cxcywh_to_xyxy(boxes: FloatArray) -> FloatArray:
    out = np.empty_like(boxes, dtype=np.float32)
    half_w = boxes[:, 2] / 2
    half_h = boxes[:, 3] / 2
    out[:, 0] = boxes[:, 0] - half_w
    out[:, 1] = boxes[:, 1] - half_h
    out[:, 2] = boxes[:, 0] + half_w
    out[:, 3] = boxes[:, 1] + half_h
    return out


_REGISTRY: dict[str, type[OutputAdapter]] = {}


def registered_adapters() -> Mapping[str, type[OutputAdapter]]:
    """Every adapter class by the manifest ``format`` it declares (read-only)."""
    return MappingProxyType(_REGISTRY)


class OutputAdapter(ABC):
    """Subclasses register themselves by declaring ``format``, the manifest's name for
    their layout: a new adapter is one module in this package, nothing else to edit."""

    format: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("format")
        if name is None:
            return  # a shared base, not a format of its own
        taken = _REGISTRY.get(name)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise TypeError(f"format {name!r} is {taken.__qualname__}'s, not {cls.__qualname__}'s")
        _REGISTRY[name] = cls

    def __init__(self, manifest: ModelManifest) -> None:
        self.manifest = manifest
        self.num_classes = len(manifest.classes)

    @abstractmethod
    def expected(self) -> str:
        """The outputs this format needs, for error messages."""

    @abstractmethod
    def outputs_match(self, shapes: Sequence[Sequence[Dim]]) -> bool:
        """Whether the model's output shapes are what this format and manifest expect."""

    @abstractmethod
    def decode(
        self,
        outputs: Sequence[npt.NDArray[np.generic]],
        threshold: float,
        class_mask: BoolArray | None,
    ) -> Candidates: ...

    def take_top(self, candidates: Candidates) -> Candidates:
        """Keep the ``max_candidates`` best before NMS: its cost grows with their square."""
        limit = self.manifest.max_candidates
        if len(candidates.scores) <= limit:
            return candidates
        top = np.argpartition(-candidates.scores, limit)[:limit]
        return Candidates(
            candidates.boxes[top],
            candidates.scores[top],
            candidates.class_ids[top],
            candidates.suppressed,
        )
