"""The small JSON file that says how to feed a model and read its outputs.

A model is an ``.onnx`` file plus this manifest (by default beside it, same name
with ``.json``). The manifest is what lets one detector run the formats people
actually export without guessing: the output layout, the input size, colour
order and normalisation, the class names, the thresholds, and the file's sha256.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from agent.detect.errors import ModelError

__all__ = [
    "BoxEncoding",
    "InputSpec",
    "ModelManifest",
    "load_manifest",
    "parse_manifest",
]


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    width: int = Field(ge=16, le=4096)
    height: int = Field(ge=16, le=4096)
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    colour: Literal["RGB", "BGR"] = "RGB"
    dtype: Literal["float32", "uint8"] = "float32"
    mean: tuple[float, float, float] = Field(
        default=(0.0, 0.0, 0.0), description="Subtracted from 0..255 pixels, in `colour` order."
    )
    std: tuple[float, float, float] = Field(
        default=(255.0, 255.0, 255.0), description="Divides after the mean: 255 gives 0..1."
    )
    letterbox: bool = Field(
        default=True, description="Keep the aspect ratio and pad; false stretches the frame."
    )
    pad_value: int = Field(default=114, ge=0, le=255)


class BoxEncoding(BaseModel):
    """How an SSD-style model writes its boxes."""

    model_config = ConfigDict(extra="forbid")

    order: Literal["xyxy", "yxyx", "cxcywh"] = "xyxy"
    normalized: bool = Field(default=False, description="0..1 of the input, else input pixels.")


class ModelManifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = Field(description="The output layout: one of the adapters' formats.")
    input: InputSpec
    classes: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        min_length=1
    )
    score_threshold: float = Field(default=0.25, ge=0, le=1)
    nms_threshold: float = Field(default=0.45, ge=0, le=1)
    max_detections: int = Field(default=100, ge=1, le=10_000)
    max_candidates: int = Field(
        default=1000, ge=1, le=100_000, description="Best boxes kept before NMS."
    )
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    strides: list[int] = Field(
        default_factory=lambda: [8, 16, 32],
        description="Grid strides (yolox, nanodet; centerface: its one stride).",
    )
    reg_max: int = Field(default=7, ge=1, le=64, description="Distance bins - 1 (nanodet).")
    boxes: BoxEncoding = Field(default_factory=BoxEncoding)
    background_class: bool = Field(
        default=False, description="SSD scores carry a background column first."
    )

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        # Imported here: the adapters import this module, and register themselves.
        from agent.detect.adapters import known_formats

        known = known_formats()
        if value not in known:
            raise ValueError(f"{value!r} is not one of {', '.join(known)}")
        return value

    def grid_size(self) -> int:
        """Anchor points over all strides, for grid-decoded formats."""
        return sum(
            -(-self.input.height // stride) * -(-self.input.width // stride)
            for stride in self.strides
        )


def parse_manifest(data: Any, where: str) -> ModelManifest:
    try:
        return ModelManifest.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_explain(item) for item in error.errors(include_url=False))
        raise ModelError(f"model manifest {where} is not valid: {problems}") from None


def _explain(item: Any) -> str:
    """One field's problem naming the bad value and, where there is a list, the allowed ones:
    ``input.layout: 'NCWH' is not one of 'NCHW', 'NHWC'``."""
    where = ".".join(str(part) for part in item["loc"]) or "(root)"
    kind = item["type"]
    if kind == "missing":
        return f"{where}: required, but not set"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(item["loc"][:-1])
        return f"{where}: unknown key" + (
            f"; allowed here: {', '.join(allowed)}" if allowed else ""
        )
    value = repr(item.get("input"))
    if len(value) > 60:
        value = value[:57] + "..."
    if kind in ("literal_error", "enum"):
        return f"{where}: {value} is not one of {item.get('ctx', {}).get('expected', '?')}"
    message = str(item["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return f"{where}: {message}"  # our validators name the value themselves
    return f"{where}: {value}: {message}"


def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = ModelManifest
    for part in loc:
        field = model.model_fields.get(str(part))
        inner = field.annotation if field is not None else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return []
        model = inner
    return sorted(model.model_fields)


def load_manifest(path: Path) -> ModelManifest:
    if not path.is_file():
        raise ModelError(
            f"model manifest {path} does not exist; write one beside the model "
            "(see docs/detect.md) or set detect.manifest"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"model manifest {path} is not readable JSON: {exc}") from None
    return parse_manifest(data, str(path))
