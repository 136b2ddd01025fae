"""The detection worker end to end: real H.264 video decoded with PyAV, real onnxruntime."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from agent.detect.config import DetectConfig, RuleConfig, ZoneConfig
from agent.detect.detector import Detector
from agent.detect.overlay import encode_jpeg
from agent.detect.worker import DetectionWorker
from agent.interfaces.frames import Frame
from protocol import CameraToggle, DetectionEventKind, DetectionToggles, TriggerSource
from tests.agent.detect.conftest import open_detector
from tests.agent.detect.fakes import RecordingSink, RecordingTrigger
from tests.agent.detect.scenes import BALL, PERSON, Figure, decode_video, render, write_video

GOAL = [(0.75, 0.0), (1.0, 0.0), (1.0, 1.0), (0.75, 1.0)]  # the right quarter of the frame


def kick_scene(frames: int = 40) -> list[np.ndarray]:
    """A ball rolls left to right into the goal; a player stands still at the left."""
    images = []
    for index in range(frames):
        ball_x = 40 + index * 14  # 14 px a frame at 10 fps
        images.append(render([Figure(BALL, ball_x, 160, 30, 30), Figure(PERSON, 60, 60, 40, 70)]))
    return images


@pytest.fixture(scope="module")
def kick_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "kick.mp4", kick_scene(), fps=10)


def config(**changes: object) -> DetectConfig:
    base: dict[str, object] = {
        "enabled": True,
        "model": Path("unused.onnx"),
        "fps": 10,
        "zones": [ZoneConfig(name="goal", camera_id="cam1", polygon=GOAL)],
        "rules": [RuleConfig(name="goal-scored", kind="enter", zone="goal", classes=["ball"])],
    }
    base["motion"] = {"refresh_s": 0}
    base.update(changes)
    return DetectConfig.model_validate(base)


def feed(worker: DetectionWorker, frames: Iterator[Frame]) -> int:
    count = 0
    for frame in frames:
        worker.on_frame(frame)
        worker.process_pending()
        count += 1
    return count


def test_a_ball_entering_the_goal_fires_one_clip_with_stable_tracks(
    kick_video: Path, detector: Detector
) -> None:
    sink, trigger = RecordingSink(), RecordingTrigger()
    worker = DetectionWorker(config(), ["cam1"], detector, sink, trigger)
    frames = list(decode_video(kick_video))
    feed(worker, iter(frames))

    enters = sink.of_kind(DetectionEventKind.ENTER)
    assert [(e.label, e.zone) for e in enters] == [("ball", "goal")]
    rules = sink.of_kind(DetectionEventKind.RULE)
    assert len(rules) == 1 and rules[0].rule == "goal-scored"
    assert rules[0].clip_id == trigger.clip_ids[0]
    request = trigger.requests[0]
    assert request.trigger.source == TriggerSource.RULE and request.camera_id == "cam1"
    # The ball's centre (40 + 14 i + 15) passes x = 480 at frame 31; debounce 2 -> frame 32.
    assert request.trigger.at.timestamp() == pytest.approx(frames[32].captured_at, abs=0.002)
    assert rules[0].track_id == enters[0].track_id
    ball_tracks = {t.id for t in worker.pipelines["cam1"].tracker.tracks if t.label == "ball"}
    assert ball_tracks == {enters[0].track_id}

    health = worker.health()[0]
    assert health.camera_id == "cam1" and health.enabled
    # The player stands still, but the ball moves in every frame: every frame is inferred.
    assert health.inferences == len(frames) and health.skipped_busy == 0
    assert health.inference_ms_p50 is not None and health.inference_ms_p50 > 0


def test_the_rate_limit_of_the_worker_takes_every_other_frame(
    kick_video: Path, detector: Detector
) -> None:
    worker = DetectionWorker(config(fps=5), ["cam1"], detector, RecordingSink())
    fed = feed(worker, decode_video(kick_video))
    assert worker.health()[0].inferences == fed // 2


def test_a_still_scene_skips_inference_through_the_gate(tmp_path: Path, detector: Detector) -> None:
    rng = np.random.default_rng(3)
    still = [render([Figure(PERSON, 200, 100, 40, 70)], noise=2.0, rng=rng) for _ in range(30)]
    video = write_video(tmp_path / "still.mp4", still)
    worker = DetectionWorker(config(motion={"refresh_s": 1.0}), ["cam1"], detector, RecordingSink())
    fed = feed(worker, decode_video(video))
    health = worker.health()[0]
    # First frame (no background) and one refresh a second (3 s of video at 10 fps).
    assert health.inferences == 3 and health.skipped_still == fed - 3
    # The standing player's track lives on through the still frames.
    assert [t.label for t in worker.pipelines["cam1"].tracker.tracks] == ["person"]


def test_motion_crop_detects_where_things_move_and_keeps_the_others(detector: Detector) -> None:
    worker = DetectionWorker(
        config(motion={"crop": True, "refresh_s": 0}, tracker={"min_hits": 1}),
        ["cam1"],
        detector,
        RecordingSink(),
    )
    player = Figure(PERSON, 60, 60, 40, 70)  # stands still, far from the ball
    frames = [
        Frame(
            "cam1",
            render([player, Figure(BALL, 400 + 10 * i, 250, 30, 30)]),
            1_800_000_000.0 + i / 10,
            i,
        )
        for i in range(10)
    ]
    feed(worker, iter(frames))
    tracks = {t.label: t for t in worker.pipelines["cam1"].tracker.tracks}
    assert set(tracks) == {"ball", "person"}
    # The player was only looked for on the first (whole) frame, and never counted as missed.
    assert tracks["person"].last_seen == frames[0].captured_at and tracks["person"].missed == 0
    assert tracks["ball"].hits == 10 and tracks["ball"].last_seen == frames[-1].captured_at
    assert worker.health()[0].inferences == 10


def test_frames_arriving_while_busy_are_counted_and_never_block(
    kick_video: Path, detector: Detector
) -> None:
    worker = DetectionWorker(config(fps=60), ["cam1"], detector, RecordingSink())
    frames = list(decode_video(kick_video))
    worker.start()
    try:
        for frame in frames:  # as fast as the loop goes: far faster than inference
            worker.on_frame(frame)
    finally:
        worker.stop()
    health = worker.health()[0]
    leftover = 1 if worker._slots["cam1"].pending is not None else 0
    assert health.skipped_busy > 0
    assert health.inferences + health.skipped_still + health.skipped_busy + leftover == len(frames)


def test_frames_decoded_for_detection_are_reported_apart(detector: Detector) -> None:
    worker = DetectionWorker(config(), ["cam1"], detector, RecordingSink())
    worker.record_decoded("cam1", 3)
    worker.record_decoded("unknown")
    assert worker.health()[0].frames_decoded == 3


def test_a_clock_stepping_back_does_not_stall_detection(detector: Detector) -> None:
    worker = DetectionWorker(config(fps=5), ["cam1"], detector, RecordingSink())
    start = 1_800_000_000.0
    for index, at in enumerate([start, start + 0.2, start - 3600.0, start - 3599.8]):
        worker.on_frame(
            Frame("cam1", render([Figure(BALL, 100 + 20 * index, 100, 30, 30)]), at, index)
        )
        worker.process_pending()
    assert worker.health()[0].inferences == 4


def test_unknown_cameras_are_ignored(detector: Detector) -> None:
    worker = DetectionWorker(config(), ["cam1"], detector, RecordingSink())
    worker.on_frame(Frame("elsewhere", render([]), 1.0, 0))
    assert worker.process_pending() == 0


def test_toggles_turn_cameras_and_classes_off(kick_video: Path, detector: Detector) -> None:
    sink = RecordingSink()
    worker = DetectionWorker(config(rules=[]), ["cam1"], detector, sink)
    worker.apply_toggles(DetectionToggles(cameras={"cam1": CameraToggle(enabled=False)}))
    feed(worker, decode_video(kick_video))
    assert worker.health()[0].inferences == 0 and not worker.health()[0].enabled

    worker.apply_toggles(
        DetectionToggles(
            classes=["person", "ball"], cameras={"cam1": CameraToggle(classes=["person"])}
        )
    )
    feed(worker, decode_video(kick_video))
    labels = {t.label for t in worker.pipelines["cam1"].tracker.tracks}
    assert labels == {"person"} and worker.health()[0].inferences > 0
    assert sink.of_kind(DetectionEventKind.ENTER) == []  # the ball is not detected at all


def test_config_switches_cameras_off_and_the_cloud_cannot_switch_them_on(
    detector: Detector,
) -> None:
    worker = DetectionWorker(
        config(cameras=[{"camera_id": "cam1", "enabled": False}]),
        ["cam1"],
        detector,
        RecordingSink(),
    )
    worker.apply_toggles(DetectionToggles(enabled=True))
    worker.on_frame(Frame("cam1", render([]), 1.0, 0))
    assert worker.process_pending() == 0


def test_preview_draws_on_a_copy_and_encodes_to_jpeg(kick_video: Path, detector: Detector) -> None:
    worker = DetectionWorker(config(), ["cam1"], detector, RecordingSink())
    frames = list(decode_video(kick_video))[:5]
    feed(worker, iter(frames))
    original = frames[-1].image.copy()
    preview = worker.preview("cam1")
    assert preview is not None and preview.index == frames[-1].index
    assert np.array_equal(frames[-1].image, original)  # the frame itself is untouched
    changed = np.any(preview.image != original, axis=2)
    # The player's box outline (60..100, 60..130) and the goal zone are drawn.
    assert changed[60, 60:100].any() and changed[200:360, 480:].any()
    assert not changed[300:340, 100:200].any()  # plain field, away from boxes and zones
    assert encode_jpeg(preview)[:2] == b"\xff\xd8"
    assert worker.preview("nope") is None


def test_a_summary_log_reports_the_counters(detector: Detector) -> None:
    now = [1_800_000_000.0]
    sink = RecordingSink()
    worker = DetectionWorker(
        config(events={"summary_interval_s": 60}), ["cam1"], detector, sink, clock=lambda: now[0]
    )
    worker.on_frame(Frame("cam1", render([]), now[0], 0))
    stop = threading.Event()
    now[0] += 61
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        for _ in range(200):
            if sink.logs:
                break
            stop.wait(0.05)
    finally:
        worker.stop()
        thread.join()
    summary = sink.logs[0]
    assert summary.type == "detection_summary" and summary.camera_id == "cam1"
    assert summary.data["inferences"] == 1
    assert summary.data["model_sha256"] == detector.model.sha256


class FailingDetector(Detector):
    """A model that loads but fails on real frames (say, a shape the manifest got wrong)."""

    def detect(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
        raise RuntimeError("shape mismatch on a real frame")


def test_a_model_failing_on_its_first_frame_is_rolled_back(
    kick_video: Path, model_path: Path
) -> None:
    sink = RecordingSink()
    good = open_detector(model_path)
    worker = DetectionWorker(config(), ["cam1"], good, sink)
    failing = FailingDetector(good.model)
    worker.swap_detector(failing)
    feed(worker, decode_video(kick_video))
    assert worker.detector is good
    assert [log.type for log in sink.logs] == ["model_rolled_back"]
    assert worker.health()[0].inferences == 39  # all but the frame the new model failed on
    assert worker.stats["cam1"].errors == 1


def test_a_worker_without_a_model_waits_and_detects_once_one_is_swapped_in(
    kick_video: Path, model_path: Path
) -> None:
    sink = RecordingSink()
    worker = DetectionWorker(config(), ["cam1"], None, sink)
    frames = list(decode_video(kick_video))
    feed(worker, iter(frames[:10]))
    assert worker.detector is None
    [health] = worker.health()
    assert not health.enabled and health.inferences == 0
    assert worker.latest_frame("cam1") is frames[9]  # kept for the installer's trial run
    detector = open_detector(model_path)
    worker.swap_detector(detector)
    feed(worker, iter(frames[10:]))
    [health] = worker.health()
    assert health.enabled and health.inferences == 30  # every frame once the model is there
    enters = sink.of_kind(DetectionEventKind.ENTER)
    assert [(e.label, e.zone) for e in enters] == [("ball", "goal")]


def test_a_first_model_failing_on_its_first_frame_rolls_back_to_none(
    kick_video: Path, model_path: Path
) -> None:
    sink = RecordingSink()
    worker = DetectionWorker(config(), ["cam1"], None, sink)
    worker.swap_detector(FailingDetector(open_detector(model_path).model))
    feed(worker, decode_video(kick_video))
    assert worker.detector is None
    assert [log.type for log in sink.logs] == ["model_rolled_back"]
    assert worker.stats["cam1"].errors == 1 and not worker.health()[0].enabled
