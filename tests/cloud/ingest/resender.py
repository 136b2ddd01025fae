"""A stand-in for the agent's sync: publish batches, re-send until each is receipted.

The real agent (``agent/sync``) does the same with its outbox; this one keeps
everything in memory, which is all a test of the cloud side needs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from uuid import UUID

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

import protocol as p
from sideline.services.mosquitto import MosquittoBroker


@dataclass
class _Pending:
    topic: str
    payload: bytes
    sent_at: float
    sends: int = 0


class ResendingPublisher:
    def __init__(
        self,
        broker: MosquittoBroker,
        username: str,
        password: str,
        *,
        org: str,
        device: str,
        resend_after_s: float = 2.0,
    ) -> None:
        self.resend_after_s = resend_after_s
        self.receipts_topic = str(p.Topic("sideline", org, device, p.Channel.RECEIPTS))
        self.pending: dict[UUID, _Pending] = {}
        self.stored: set[UUID] = set()
        self.refused: set[UUID] = set()
        self.resends = 0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"resender-{device}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]  # paho takes float delays
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=10)
        self.client.loop_start()
        self._thread = threading.Thread(target=self._resend_loop, daemon=True)
        self._thread.start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):  # type: ignore[no-untyped-def]
        client.subscribe(self.receipts_topic, qos=1)

    def _on_message(self, client, userdata, message):  # type: ignore[no-untyped-def]
        receipt = p.decode_as(p.Receipt, message.payload)
        with self._lock:
            self.stored.update(receipt.stored)
            self.refused.update(rejection.id for rejection in receipt.rejected)
            self.pending.pop(receipt.for_message_id, None)
            self._lock.notify_all()

    def send(self, topic: str, batch: p.Message) -> None:
        payload = p.encode(batch)
        with self._lock:
            self.pending[batch.message_id] = _Pending(topic, payload, time.monotonic(), 1)
        self.client.publish(topic, payload, qos=1)

    def _resend_loop(self) -> None:
        while not self._stop.wait(0.2):
            now = time.monotonic()
            with self._lock:
                due = [m for m in self.pending.values() if now - m.sent_at > self.resend_after_s]
                for item in due:
                    item.sent_at, item.sends = now, item.sends + 1
            for item in due:
                self.resends += 1
                self.client.publish(item.topic, item.payload, qos=1)

    def wait_all_receipted(self, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: not self.pending, timeout)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.client.disconnect()
        self.client.loop_stop()
