"""Tag to playable clip on the embedded default: median <= lag + 3 s, for 1 and for 2 cameras.

The embedded default's parts, as ``sideline demo`` runs them: Mosquitto, SeaweedFS, the
cloud on SQLite (``sideline cloud ingest`` and ``sideline cloud api`` as processes) and
one box (``sideline agent run``) on 1280x720 30 fps test-pattern cameras at the box's
default clip settings, in a live session whose form tags with lead 10 s and lag 5 s.
A coach's log is POSTed with the press time; measured: from the POST to the API
listing one verified clip per camera on the log (polled every 50 ms). Printed beside
it, from the cloud's rows: the part after the lag (clip end filmed -> record received
-> object verified), which is what the box, the upload and the ingest add.

    .venv/bin/python bench/tag_to_clip.py [--tags 7] [--cameras 1 2]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from protocol import format_utc, utc_now  # noqa: E402
from sideline.services.mosquitto import MosquittoBroker  # noqa: E402
from sideline.services.seaweed import SeaweedS3  # noqa: E402
from tests.fixtures.services import DEFAULT_ACL, MQTT_ADMIN, S3_BUCKET  # noqa: E402
from tests.stack import Stack  # noqa: E402
from tests.waiting import wait_until  # noqa: E402

LEAD_S, LAG_S = 10.0, 5.0
LIMIT_S = LAG_S + 3.0


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def run(
    cameras: int, tags: int, work: Path, broker: MosquittoBroker, seaweed: SeaweedS3
) -> dict[str, list[float]]:
    database = work / f"cloud-{cameras}.db"
    stack = Stack(
        work / f"stack-{cameras}",
        broker,
        seaweed,
        f"sqlite:///{database}",
        org=f"bench{cameras}",
        cameras=cameras,
        width=1280,
        height=720,
        fps=30.0,
        bitrate_kbps=4000,
        test_clips=False,
    )
    latencies: list[float] = []
    after_lag: list[float] = []
    spread_ms: list[float] = []
    with stack:
        session = stack.tagging_session({"lead_s": LEAD_S, "lag_s": LAG_S}, title="Bench match")
        wait_until(stack.recording_everywhere, timeout_s=30, what="recording")
        time.sleep(LEAD_S + 2)  # the first tag's lead is on the box
        logs = f"/sessions/{session['id']}/logs"
        log_ids = []
        for _ in range(tags):
            start = time.monotonic()
            pressed = utc_now()
            log = stack.api(
                "POST",
                logs,
                {"data": {"action": "goal"}, "occurred_at": format_utc(pressed)},
                expect=201,
            )

            def ready(log_id: str = log["id"]) -> bool:
                return len(stack.api("GET", f"{logs}/{log_id}")["clips"]) == cameras

            wait_until(ready, timeout_s=60, what="the tag's clips", interval_s=0.05)
            latencies.append(time.monotonic() - start)
            log_ids.append(log["id"])
            time.sleep(1.0)
        connection = sqlite3.connect(database)
        try:
            for log_id in log_ids:
                rows = connection.execute(
                    "SELECT started_at, ended_at, received_at, verified_at FROM clip "
                    "WHERE log_id = ? OR log_id = ?",
                    (log_id, log_id.replace("-", "")),
                ).fetchall()
                occurred = connection.execute(
                    "SELECT occurred_at FROM log WHERE id = ? OR id = ?",
                    (log_id, log_id.replace("-", "")),
                ).fetchone()[0]
                end = _seconds(occurred) + LAG_S
                after_lag.append(max(_seconds(verified) for _, _, _, verified in rows) - end)
                starts = [_seconds(started) for started, _, _, _ in rows]
                spread_ms.append((max(starts) - min(starts)) * 1000)
        finally:
            connection.close()
    return {"latency": latencies, "after_lag": after_lag, "spread_ms": spread_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=7)
    parser.add_argument("--cameras", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="sideline-tag-bench-") as temp:
        work = Path(temp)
        broker = MosquittoBroker(
            work / "mosquitto", users={MQTT_ADMIN[0]: MQTT_ADMIN[1]}, acl=DEFAULT_ACL
        )
        seaweed = SeaweedS3(work / "seaweed")
        broker.start()
        seaweed.start()
        try:
            seaweed.create_bucket(S3_BUCKET)
            for cameras in args.cameras:
                figures = run(cameras, args.tags, work, broker, seaweed)
                latency = figures["latency"]
                median = statistics.median(latency)
                print(
                    f"{cameras} camera(s), {len(latency)} tags (lead {LEAD_S:g} s, lag {LAG_S:g} s): "
                    f"POST -> every clip playable median {median:.2f} s, "
                    f"min {min(latency):.2f}, max {max(latency):.2f}; limit lag + 3 s = "
                    f"{LIMIT_S:g} s, ratio {median / LIMIT_S:.2f}"
                )
                print(
                    f"    after the lag (end filmed -> verified in the cloud): median "
                    f"{statistics.median(figures['after_lag']):.2f} s, "
                    f"max {max(figures['after_lag']):.2f} s"
                )
                if cameras > 1:
                    spread = figures["spread_ms"]
                    print(
                        f"    clip starts across cameras: max spread {max(spread):.1f} ms "
                        f"(one frame at 30 fps = 33.3 ms)"
                    )
        finally:
            seaweed.stop()
            broker.stop()
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
