"""Fixtures of the daemon-level agent tests (tests/agent/sync has its own, with a cloud)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sideline.services.mosquitto import MosquittoBroker
from tests.agent.sync.conftest import Device, new_device
from tests.fixtures.services import MQTT_ADMIN
from tests.mqtt_helpers import TestClient, connect


@pytest.fixture
def device(mosquitto: MosquittoBroker) -> Device:
    """A box known to the broker only (no cloud database behind it)."""
    return new_device(mosquitto)


@pytest.fixture
def admin(mosquitto: MosquittoBroker) -> Iterator[TestClient]:
    """The cloud's side of the broker: may read and write every device's topics."""
    client = connect(mosquitto, *MQTT_ADMIN)
    yield client
    client.close()
