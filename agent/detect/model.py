"""Loading a model and proving it is the one the manifest describes, before any frame.

Every check names the file, what was expected and what was found: a missing
file, a checksum that differs, an input or output the manifest's format cannot
read. The declared shapes are checked first, then the shapes a warm-up run
really produces (symbolic dimensions are only known then).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from agent.detect.adapters import OutputAdapter, adapter_for
from agent.detect.adapters.base import Dim, describe_shape, dims_match
from agent.detect.errors import ModelError
from agent.detect.manifest import ModelManifest
from agent.detect.session import SessionSettings, open_session

__all__ = ["LoadedModel", "file_sha256", "load_model"]

log = logging.getLogger(__name__)

_ORT_DTYPES = {"float32": "tensor(float)", "uint8": "tensor(uint8)"}


@dataclass(frozen=True, eq=False)
class LoadedModel:
    path: Path
    manifest: ModelManifest
    session: ort.InferenceSession
    adapter: OutputAdapter
    input_name: str
    output_names: list[str]
    sha256: str
    providers: list[str]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(
    path: Path,
    manifest: ModelManifest,
    settings: SessionSettings,
    *,
    expected_sha256: str | None = None,
    warmup_runs: int = 2,
) -> LoadedModel:
    """Open, verify and warm up a model; raises :class:`ModelError` saying what is wrong."""
    if not path.is_file():
        raise ModelError(
            f"model file {path} does not exist; check detect.model or copy the .onnx there"
        )
    sha256 = file_sha256(path)
    for source, wanted in (("the manifest", manifest.sha256), ("the request", expected_sha256)):
        if wanted is not None and wanted != sha256:
            raise ModelError(
                f"model file {path} has sha256 {sha256}, but {source} expects {wanted}; "
                "the file is damaged or not the model the manifest describes"
            )
    try:
        session = open_session(path, settings)
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise ModelError(
            f"model file {path} cannot be loaded by onnxruntime ({_first_line(exc)}): it is "
            "not a valid ONNX model. If it was downloaded, the download may be cut short or "
            "damaged: fetch it again and compare its sha256 with the publisher's (put it in "
            "the manifest's sha256); otherwise re-export it to ONNX (e.g. opset 12 or newer) "
            "and point detect.model at the new file"
        ) from None
    adapter = adapter_for(manifest)
    input_name = _check_input(path, manifest, session)
    declared = [list(o.shape) for o in session.get_outputs()]
    _check_outputs(path, manifest, adapter, declared, "declares")
    model = LoadedModel(
        path=path,
        manifest=manifest,
        session=session,
        adapter=adapter,
        input_name=input_name,
        output_names=[o.name for o in session.get_outputs()],
        sha256=sha256,
        providers=list(session.get_providers()),
    )
    _warm_up(model, max(1, warmup_runs))
    log.info(
        "model %s loaded (%s, %d classes, input %dx%d, providers %s)",
        path,
        manifest.format,
        len(manifest.classes),
        manifest.input.width,
        manifest.input.height,
        ", ".join(model.providers),
    )
    return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _check_input(path: Path, manifest: ModelManifest, session: ort.InferenceSession) -> str:
    spec = manifest.input
    inputs = session.get_inputs()
    if spec.layout == "NCHW":
        expected: list[int | None] = [1, 3, spec.height, spec.width]
    else:
        expected = [1, spec.height, spec.width, 3]
    if len(inputs) != 1:
        found = ", ".join(f"{i.name} {describe_shape(i.shape)}" for i in inputs)
        raise ModelError(
            f"model file {path} has {len(inputs)} inputs ({found}); the detector feeds exactly one "
            f"image input {describe_shape(expected)}"
        )
    shape: list[Dim] = list(inputs[0].shape)
    batch_ok = len(shape) == 4 and (not isinstance(shape[0], int) or shape[0] == 1)
    if not batch_ok or not dims_match(shape, expected):
        raise ModelError(
            f"model file {path} takes input {inputs[0].name} {describe_shape(shape)}, but its "
            f"manifest says {spec.layout} {spec.width}x{spec.height}, i.e. {describe_shape(expected)}; "
            "fix input.width/height/layout in the manifest or export the model at that size"
        )
    if inputs[0].type != _ORT_DTYPES[spec.dtype]:
        raise ModelError(
            f"model file {path} takes input of type {inputs[0].type}, but its manifest says "
            f"dtype {spec.dtype!r} ({_ORT_DTYPES[spec.dtype]})"
        )
    return str(inputs[0].name)


def _check_outputs(
    path: Path,
    manifest: ModelManifest,
    adapter: OutputAdapter,
    shapes: Sequence[Sequence[Dim]],
    verb: str,
) -> None:
    if adapter.outputs_match(shapes):
        return
    found = ", ".join(describe_shape(s) for s in shapes) or "none"
    raise ModelError(
        f"model file {path} {verb} {len(shapes)} output(s) {found}; its manifest says format "
        f"{manifest.format!r} with {len(manifest.classes)} classes, which needs "
        f"{adapter.expected()}; check the manifest's format and classes"
    )


def _warm_up(model: LoadedModel, runs: int) -> None:
    spec = model.manifest.input
    shape = (
        (1, 3, spec.height, spec.width)
        if spec.layout == "NCHW"
        else (1, spec.height, spec.width, 3)
    )
    blank = np.full(shape, 0.5 if spec.dtype == "float32" else 128, dtype=spec.dtype)
    try:
        outputs = []
        for _ in range(runs):
            outputs = model.session.run(None, {model.input_name: blank})
    except Exception as exc:
        raise ModelError(f"model file {model.path} fails its warm-up run: {exc}") from None
    _check_outputs(
        model.path, model.manifest, model.adapter, [o.shape for o in outputs], "produces"
    )
