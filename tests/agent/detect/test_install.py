"""Replacing the model at run time: fetched over HTTP or from S3, verified, swapped, rolled back."""

from __future__ import annotations

import functools
import http.server
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from pydantic import SecretStr

from agent.detect.config import DetectConfig
from agent.detect.fetch import ModelFetcher
from agent.detect.install import ModelInstaller
from agent.detect.model import file_sha256
from agent.detect.session import SessionSettings
from agent.detect.worker import DetectionWorker
from agent.interfaces.frames import Frame
from agent.sync.config import S3Config
from agent.sync.objectstore import S3ObjectStore
from agent.wiring.detection import LazyObjectSource
from protocol import ModelRef
from sideline.services.seaweed import SeaweedS3
from tests.agent.detect.conftest import CLASSES, open_detector, read_manifest, running
from tests.agent.detect.fakes import RecordingSink
from tests.agent.detect.scenes import BALL, PERSON, Figure, render
from tests.agent.detect.synthetic_models import build_colour_detector, manifest_for, write_model

SCENE = [Figure(BALL, 100, 50, 30, 30), Figure(PERSON, 300, 150, 40, 70)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A local HTTP server over a folder: (base URL, folder)."""
    root = tmp_path_factory.mktemp("served")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def nanodet_model(served: tuple[str, Path]) -> Path:
    """A different model (another format, same classes) on the server."""
    _, root = served
    return write_model(
        root, "nanodet", build_colour_detector("nanodet", CLASSES), manifest_for("nanodet", CLASSES)
    )


def make_installer(
    tmp_path: Path, model_path: Path, store: S3ObjectStore | None = None
) -> tuple[ModelInstaller, DetectionWorker, RecordingSink]:
    sink = RecordingSink()
    config = DetectConfig(enabled=True, model=model_path, fps=30)
    worker = DetectionWorker(config, ["cam1"], open_detector(model_path), sink)
    worker.on_frame(Frame("cam1", render(SCENE), 1_800_000_000.0, 0))
    worker.process_pending()
    installer = ModelInstaller(
        config,
        SessionSettings(threads=1),
        tmp_path / "models",
        worker,
        ModelFetcher(store, timeout_s=10),
        sink,
    )
    return installer, worker, sink


def test_a_new_model_is_fetched_verified_and_swapped_in(
    tmp_path: Path, model_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, _ = served
    installer, worker, sink = make_installer(tmp_path, model_path)
    sha = file_sha256(nanodet_model)
    manifest = read_manifest(nanodet_model)
    result = installer.apply(ModelRef(url=f"{base}/nanodet.onnx", sha256=sha, manifest=manifest))
    assert result.ok and result.changed and result.reason is None
    assert running(worker).model.sha256 == sha and running(worker).manifest.format == "nanodet"
    assert (tmp_path / "models" / f"{sha}.onnx").is_file()
    assert not list((tmp_path / "models").glob(".*.part"))
    assert [log.type for log in sink.logs] == ["model_updated"]
    assert sink.logs[0].data["previous"] == file_sha256(model_path)
    # The new model runs on the next frame.
    worker.on_frame(Frame("cam1", render(SCENE), 1_800_000_001.0, 1))
    worker.process_pending()
    assert {t.label for t in worker.pipelines["cam1"].tracker.tracks} == {"ball", "person"}

    again = installer.apply(ModelRef(url=f"{base}/nanodet.onnx", sha256=sha))
    assert again.ok and not again.changed


def test_a_checksum_mismatch_keeps_the_running_model(
    tmp_path: Path, model_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, _ = served
    installer, worker, sink = make_installer(tmp_path, model_path)
    result = installer.apply(
        ModelRef(url=f"{base}/nanodet.onnx", sha256="b" * 64, manifest=read_manifest(nanodet_model))
    )
    assert not result.ok and not result.changed
    assert (
        result.reason is not None
        and "b" * 64 in result.reason
        and file_sha256(nanodet_model) in result.reason
    )
    assert running(worker).model.path == model_path
    assert list((tmp_path / "models").iterdir()) == []  # nothing half-written is left
    assert sink.logs[0].type == "model_update_failed" and sink.logs[0].data[
        "running"
    ] == file_sha256(model_path)


def test_a_missing_file_keeps_the_running_model(
    tmp_path: Path, model_path: Path, served: tuple[str, Path]
) -> None:
    base, _ = served
    installer, worker, _ = make_installer(tmp_path, model_path)
    result = installer.apply(ModelRef(url=f"{base}/nothing.onnx", sha256="c" * 64))
    assert not result.ok and result.reason is not None and "404" in result.reason
    assert running(worker).model.path == model_path


def test_a_manifest_that_does_not_fit_keeps_the_running_model(
    tmp_path: Path, model_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, _ = served
    installer, worker, _ = make_installer(tmp_path, model_path)
    wrong = {**read_manifest(nanodet_model), "format": "yolov8"}
    result = installer.apply(
        ModelRef(url=f"{base}/nanodet.onnx", sha256=file_sha256(nanodet_model), manifest=wrong)
    )
    assert not result.ok and result.reason is not None
    assert "format 'yolov8'" in result.reason and "[1, 2100, 35]" in result.reason
    assert running(worker).model.path == model_path


def test_without_a_manifest_the_running_one_is_reused(
    tmp_path: Path, model_path: Path, served: tuple[str, Path]
) -> None:
    base, root = served
    retrained = write_model(
        root,
        "retrained",
        build_colour_detector("yolov8", CLASSES, tau=70.0),
        manifest_for("yolov8", CLASSES),
    )
    installer, worker, _ = make_installer(tmp_path, model_path)
    result = installer.apply(ModelRef(url=f"{base}/retrained.onnx", sha256=file_sha256(retrained)))
    assert result.ok and running(worker).manifest.format == "yolov8"
    assert running(worker).manifest.sha256 == file_sha256(retrained)


def test_a_model_from_the_object_store(
    tmp_path: Path, model_path: Path, seaweed: SeaweedS3, nanodet_model: Path
) -> None:
    client = seaweed.client()
    key = "org1/dev1/models/nanodet.onnx"
    client.put_object(Bucket="sideline-clips", Key=key, Body=nanodet_model.read_bytes())
    store = S3ObjectStore(
        S3Config(
            endpoint_url=seaweed.endpoint_url,
            bucket="sideline-clips",
            access_key_id=seaweed.admin.access_key,
            secret_access_key=SecretStr(seaweed.admin.secret_key),
            addressing_style="path",
        )
    )
    installer, worker, _ = make_installer(tmp_path, model_path, store)
    sha = file_sha256(nanodet_model)
    result = installer.apply(
        ModelRef(s3_key=key, sha256=sha, manifest=read_manifest(nanodet_model))
    )
    assert result.ok and running(worker).model.sha256 == sha
    missing = installer.apply(ModelRef(s3_key="org1/dev1/models/none.onnx", sha256="d" * 64))
    assert not missing.ok and missing.reason is not None and "none.onnx" in missing.reason


def test_an_oversized_download_is_refused(
    tmp_path: Path, model_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, _ = served
    installer, _worker, _ = make_installer(tmp_path, model_path)
    installer.config = installer.config.model_copy(update={"max_model_bytes": 1024})
    result = installer.apply(
        ModelRef(url=f"{base}/nanodet.onnx", sha256=file_sha256(nanodet_model))
    )
    assert (
        not result.ok and result.reason is not None and "above the limit of 1024" in result.reason
    )


def test_capture_keeps_delivering_and_detection_keeps_running_during_a_swap(
    tmp_path: Path, model_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, _ = served
    installer, worker, _ = make_installer(tmp_path, model_path)
    stop = threading.Event()
    delivered = [0]

    def capture() -> None:
        index = 1
        while not stop.is_set():
            moving = [Figure(BALL, 50 + (index * 7) % 500, 50, 30, 30)]  # keeps the gate open
            worker.on_frame(Frame("cam1", render(moving), 1_800_000_000.0 + index / 30, index))
            delivered[0] += 1
            index += 1
            stop.wait(1 / 30)

    feeder = threading.Thread(target=capture)
    worker.start()
    feeder.start()
    try:
        before = delivered[0]
        result = installer.apply(
            ModelRef(
                url=f"{base}/nanodet.onnx",
                sha256=file_sha256(nanodet_model),
                manifest=read_manifest(nanodet_model),
            )
        )
        during = delivered[0] - before
        inferences_at_swap = worker.health()[0].inferences
        for _ in range(100):
            if worker.health()[0].inferences > inferences_at_swap + 2:
                break
            stop.wait(0.05)
    finally:
        stop.set()
        feeder.join()
        worker.stop()
    assert result.ok
    assert during > 0  # frames kept arriving while the new model was fetched and warmed up
    assert worker.health()[0].inferences > inferences_at_swap + 2
    assert worker.stats["cam1"].errors == 0


def test_a_worker_without_a_model_gets_its_first_one_with_a_manifest(
    tmp_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, _ = served
    sink = RecordingSink()
    config = DetectConfig(enabled=True, model=tmp_path / "missing.onnx", fps=30)
    worker = DetectionWorker(config, ["cam1"], None, sink)
    worker.on_frame(Frame("cam1", render(SCENE), 1_800_000_000.0, 0))
    installer = ModelInstaller(
        config,
        SessionSettings(threads=1),
        tmp_path / "models",
        worker,
        ModelFetcher(None, timeout_s=10),
        sink,
    )
    sha = file_sha256(nanodet_model)
    bare = installer.apply(ModelRef(url=f"{base}/nanodet.onnx", sha256=sha))
    assert not bare.ok and bare.reason is not None
    assert "without a manifest, and no model runs" in bare.reason
    assert sink.logs[-1].type == "model_update_failed" and sink.logs[-1].data["running"] is None
    assert worker.detector is None

    result = installer.apply(
        ModelRef(url=f"{base}/nanodet.onnx", sha256=sha, manifest=read_manifest(nanodet_model))
    )
    assert result.ok and result.changed
    assert worker.detector is not None and running(worker).model.sha256 == sha
    assert sink.logs[-1].type == "model_updated" and "previous" not in sink.logs[-1].data
    worker.on_frame(Frame("cam1", render(SCENE), 1_800_000_001.0, 1))
    assert worker.process_pending() == 1
    assert {t.label for t in worker.pipelines["cam1"].tracker.tracks} == {"ball", "person"}


def test_pruning_old_downloads_spares_a_model_the_user_put_there(
    tmp_path: Path, model_path: Path, served: tuple[str, Path], nanodet_model: Path
) -> None:
    base, root = served
    models = tmp_path / "models"
    models.mkdir()
    own = models / "our-own.onnx"
    own.write_bytes(model_path.read_bytes())
    own.with_suffix(".json").write_bytes(model_path.with_suffix(".json").read_bytes())
    installer, _, _ = make_installer(tmp_path, own)
    names = ["nanodet"]
    for index, tau in enumerate((60.0, 50.0)):
        names.append(f"retrained-{index}")
        write_model(
            root,
            names[-1],
            build_colour_detector("yolov8", CLASSES, tau=tau),
            manifest_for("yolov8", CLASSES),
        )
    shas = [file_sha256(root / f"{name}.onnx") for name in names]
    for name, sha in zip(names, shas, strict=True):
        manifest = read_manifest(root / f"{name}.onnx")
        ref = ModelRef(url=f"{base}/{name}.onnx", sha256=sha, manifest=manifest)
        assert installer.apply(ref).ok
    # The running and the previous download stay, the oldest goes; the model the config
    # names (not a download) is never touched.
    assert sorted(p.name for p in models.glob("*.onnx")) == sorted(
        ["our-own.onnx", f"{shas[1]}.onnx", f"{shas[2]}.onnx"]
    )
    assert own.with_suffix(".json").is_file() and not (models / f"{shas[0]}.json").exists()


def test_the_wired_object_source_is_made_when_the_first_model_is_read() -> None:
    made: list[str] = []

    class Source:
        bucket = "sideline-clips"

        def open_read(self, key: str) -> tuple[int, BinaryIO]:
            return 3, io.BytesIO(b"abc")

    def make() -> Source:
        made.append("made")
        return Source()

    lazy = LazyObjectSource("sideline-clips", make)
    assert made == [] and lazy.bucket == "sideline-clips"
    assert lazy.open_read("org/dev/models/m.onnx")[0] == 3
    lazy.open_read("org/dev/models/n.onnx")
    assert made == ["made"]
