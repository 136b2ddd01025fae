"""Replacing the running model from the cloud's desired state, without stopping capture.

Steps, each of which can fail without touching the running model:

1. fetch the file (URL or object-store key) into ``models_dir`` as a ``.part``
   file, unless a verified copy with that sha256 is already there;
2. check its sha256 against the request, then rename it to ``<sha256>.onnx``;
3. take the manifest from the request, or else reuse the running model's
   (same format and classes, new weights), and check it;
4. load it, check its inputs and outputs, warm it up, and run it once on the
   newest real frame;
5. hand it to the worker, which swaps at the next frame (and rolls back by
   itself should the new model still fail on its first frame).

A worker that started without a model (the configured one could not be
opened) gets its first one the same way; the request must then carry the
manifest, since there is no running model whose manifest could be reused.

The outcome is returned and written to the log the cloud receives. Call
:meth:`ModelInstaller.apply` from the control thread: it blocks for the
download and warm-up, while capture and detection go on.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import JsonValue

from agent.detect.config import DetectConfig
from agent.detect.detector import Detector
from agent.detect.events import utc
from agent.detect.fetch import ModelFetcher
from agent.detect.manifest import ModelManifest, parse_manifest
from agent.detect.model import file_sha256, load_model
from agent.detect.session import SessionSettings
from agent.detect.worker import DetectionWorker
from agent.interfaces.sinks import RecordSink
from protocol import LogRecord, LogSource, ModelRef, new_id

__all__ = ["ModelInstaller", "ModelUpdateResult"]

log = logging.getLogger(__name__)

_DOWNLOADED = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class ModelUpdateResult:
    sha256: str
    ok: bool  # True: the requested model is running now
    changed: bool  # a swap happened (False when it was already running, or on failure)
    reason: str | None = None  # why it failed; the previous model keeps running
    path: Path | None = None
    seconds: float = 0.0


class ModelInstaller:
    def __init__(
        self,
        config: DetectConfig,
        settings: SessionSettings,
        models_dir: Path,
        worker: DetectionWorker,
        fetcher: ModelFetcher,
        sink: RecordSink | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.settings = settings
        self.models_dir = models_dir
        self.worker = worker
        self.fetcher = fetcher
        self.sink = sink
        self._clock = clock
        self._lock = threading.Lock()  # one installation at a time

    def apply(self, ref: ModelRef) -> ModelUpdateResult:
        with self._lock:
            started = time.perf_counter()
            running = self.worker.detector
            if running is not None and ref.sha256 == running.model.sha256:
                return ModelUpdateResult(
                    ref.sha256, ok=True, changed=False, path=running.model.path
                )
            try:
                detector = self._prepare(ref)
            except Exception as exc:  # every failure leaves the running model in place
                reason = str(exc) or type(exc).__name__
                log.error(
                    "model %s not installed; keeping %s: %s",
                    ref.sha256,
                    running.model.path if running is not None else "no model (detection waits)",
                    reason,
                )
                result = ModelUpdateResult(
                    ref.sha256,
                    ok=False,
                    changed=False,
                    reason=reason[:500],
                    seconds=time.perf_counter() - started,
                )
                self._report("model_update_failed", ref, result)
                return result
            self.worker.swap_detector(detector)
            previous = running.model.sha256 if running is not None else None
            result = ModelUpdateResult(
                ref.sha256,
                ok=True,
                changed=True,
                path=detector.model.path,
                seconds=time.perf_counter() - started,
            )
            self._report("model_updated", ref, result, previous=previous)
            self._prune(keep={ref.sha256, previous or ref.sha256})
            return result

    def _prepare(self, ref: ModelRef) -> Detector:
        self.models_dir.mkdir(parents=True, exist_ok=True)
        path = self.models_dir / f"{ref.sha256}.onnx"
        if not (path.is_file() and file_sha256(path) == ref.sha256):
            self._download(ref, path)
        manifest = self._manifest(ref)
        path.with_suffix(".json").write_text(manifest.model_dump_json(indent=2))
        model = load_model(
            path,
            manifest,
            self.settings,
            expected_sha256=ref.sha256,
            warmup_runs=self.config.warmup_runs,
        )
        detector = Detector(model, score_threshold=self.config.score_threshold)
        for camera_id in self.worker.pipelines:
            frame = self.worker.latest_frame(camera_id)
            if frame is not None:
                detector.detect(frame.image)  # a real frame, before any camera depends on it
                break
        return detector

    def _download(self, ref: ModelRef, path: Path) -> None:
        part = path.with_name(f".{path.name}.part")
        where = ref.url or ref.s3_key
        try:
            self.fetcher.fetch(ref, part, self.config.max_model_bytes)
            found = file_sha256(part)
            if found != ref.sha256:
                raise ValueError(
                    f"model from {where} has sha256 {found}, but the desired state names {ref.sha256}"
                )
            os.replace(part, path)  # atomic: a crash leaves either no file or the whole one
        finally:
            part.unlink(missing_ok=True)

    def _manifest(self, ref: ModelRef) -> ModelManifest:
        if ref.manifest is None:
            running = self.worker.detector
            if running is None:
                raise ValueError(
                    f"the desired state names model {ref.sha256} without a manifest, and no "
                    "model runs whose manifest it could reuse: add the manifest to the request"
                )
            return running.manifest.model_copy(update={"sha256": ref.sha256})
        manifest = parse_manifest(ref.manifest, f"for model {ref.sha256} in the desired state")
        if manifest.sha256 is not None and manifest.sha256 != ref.sha256:
            raise ValueError(
                f"the manifest's sha256 {manifest.sha256} differs from the model's {ref.sha256}"
            )
        return manifest.model_copy(update={"sha256": ref.sha256})

    def _prune(self, keep: set[str]) -> None:
        """Keep the running and the previous model; older downloads only take space.
        Only downloads (named by their sha256) are removed: a model the user put in the
        same folder and named in the config is never touched."""
        for path in self.models_dir.glob("*.onnx"):
            if _DOWNLOADED.fullmatch(path.stem) and path.stem not in keep:
                path.unlink(missing_ok=True)
                path.with_suffix(".json").unlink(missing_ok=True)

    def _report(
        self, kind: str, ref: ModelRef, result: ModelUpdateResult, previous: str | None = None
    ) -> None:
        if self.sink is None:
            return
        data: dict[str, JsonValue] = {
            "sha256": ref.sha256,
            "source": ref.url or ref.s3_key,
            "ok": result.ok,
            "seconds": round(result.seconds, 3),
        }
        if result.reason is not None:
            running = self.worker.detector
            data["reason"] = result.reason
            data["running"] = running.model.sha256 if running is not None else None
        if previous is not None:
            data["previous"] = previous
        record = LogRecord(
            id=new_id(),
            occurred_at=utc(self._clock()),
            source=LogSource.SYSTEM,
            type=kind,
            data=data,
        )
        try:
            self.sink.add_log(record)
        except Exception:
            log.exception("could not store the %s log", kind)
