"""A flapping network does not flood the box's log (and so its SD card).

The real agent on a broker that is killed and started again every second or so,
with the shortest reconnect delays: every lost connection and every reconnect
would be a line. The agent's log handler (sideline.logs.RateLimit) passes at most
a burst of each kind of line per minute; the agent keeps reconnecting.
"""

from __future__ import annotations

import collections
import re
import time
from pathlib import Path

from sideline.logs import BURST
from tests.agent.power import Box, box_config
from tests.agent.sync.conftest import Device, agent_config
from tests.fixtures.services import MQTT_ADMIN, BrokerFactory
from tests.media import write_test_video
from tests.waiting import wait_until

LINE = re.compile(r"^\S+ \S+ (\w+)\s+([\w.]+): (.*)$")


def test_a_flapping_broker_gives_a_few_lines_not_one_per_reconnect(
    tmp_path: Path, broker_factory: BrokerFactory
) -> None:
    device = Device("org1", "flappy", "flappy-password-1")
    broker = broker_factory(users={MQTT_ADMIN[0]: MQTT_ADMIN[1], device.id: device.password})
    video = write_test_video(tmp_path / "camera.mp4", seconds=2)
    base = agent_config(
        tmp_path, device, broker, mqtt={"reconnect_min_s": 0.1, "reconnect_max_s": 0.5}
    )
    box = Box(box_config(base, video.path), tmp_path)
    box.start()
    try:
        wait_until(lambda: "connected to" in box.log.read_text(), what="the first connection")
        started = len(box.log.read_text().splitlines())
        for _ in range(12):
            broker.kill()
            time.sleep(0.6)
            broker.start()
            time.sleep(0.9)
        wait_until(lambda: box.log.read_text().count("connected to") >= 2, what="reconnections")
        assert box.process is not None and box.process.poll() is None
    finally:
        box.stop()
    lines = box.log.read_text().splitlines()[started:]
    kinds: collections.Counter[tuple[str, str]] = collections.Counter()
    for line in lines:
        match = LINE.match(line)
        if match:
            _, name, message = match.groups()
            kinds[(name, re.sub(r"\d+|'[^']*'|\S+:\d+", "_", message)[:40])] += 1
    link = sum(n for (name, _), n in kinds.items() if name == "agent.sync.link")
    # 12 cycles would be 24 link lines at least; a burst of each kind passes.
    assert 2 <= link <= 3 * BURST, kinds
    assert max(kinds.values()) <= BURST + 1, kinds
