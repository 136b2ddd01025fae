"""The API's connection to the MQTT broker (paho-mqtt 2.x, MQTT v5).

It publishes desired state and commands, and (optionally) receives command
acknowledgements. ``publish`` has the same shape as the ingest's
``MessagePublisher`` so that either connection can carry the API's messages.
"""

from __future__ import annotations

import logging
import secrets
import ssl
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.config import CloudMqttConfig

__all__ = ["BrokerConnection", "BrokerUnavailable", "PublishFailed"]

log = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """The broker could not be reached or refused the connection."""


class PublishFailed(RuntimeError):
    """The broker did not take a message in time."""


MessageCallback = Callable[[str, bytes], None]


class BrokerConnection:
    """One paho client: connects, re-subscribes on every reconnection, publishes."""

    def __init__(
        self,
        config: CloudMqttConfig,
        *,
        role: str = "api",
        subscriptions: list[str] | None = None,
        on_message: MessageCallback | None = None,
    ) -> None:
        self.config = config
        self.client_id = f"{config.client_id_prefix}-{role}-{secrets.token_hex(4)}"
        self._subscriptions = list(subscriptions or [])
        self._on_message = on_message
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self.last_refusal: str | None = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else None
            client.username_pw_set(config.username, password)
        if config.tls:
            client.tls_set(
                ca_certs=str(config.ca_file) if config.ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._handle_connect
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_message = self._handle_message
        self._client = client

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect in the background and wait up to ``timeout_s`` for it.

        On :class:`BrokerUnavailable` the client keeps trying (paho's loop thread
        reconnects with backoff), so a caller may carry on and publish later.
        """
        self._client.connect_async(self.config.host, self.config.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            raise BrokerUnavailable(
                f"MQTT broker {self.config.host}:{self.config.port} did not accept "
                f"{self.client_id!r} within {timeout_s:.0f} s: {self.last_refusal or 'no CONNACK'}"
            )
        if self._subscriptions and not self._subscribed.wait(timeout_s):
            raise BrokerUnavailable(f"no SUBACK for {self._subscriptions}")

    def stop(self) -> None:
        self._connected.clear()  # a disconnection we asked for is no news
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        wait_s: float | None = None,
    ) -> None:
        """Queue ``payload``; with ``wait_s``, block until the broker took it or raise."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise PublishFailed(f"publishing to {topic} failed: {mqtt.error_string(info.rc)}")
        if wait_s is None:
            return
        try:
            info.wait_for_publish(timeout=wait_s)
        except (RuntimeError, ValueError) as exc:
            raise PublishFailed(f"publishing to {topic} failed: {exc}") from None
        if not info.is_published():
            raise PublishFailed(
                f"the broker did not take the message for {topic} within {wait_s} s "
                f"({'connected' if self.is_connected else 'not connected'})"
            )

    # paho callbacks, on its network thread

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.last_refusal = str(reason_code)
            log.error("MQTT broker refused %s: %s", self.client_id, reason_code)
            return
        if self._subscriptions:
            client.subscribe([(topic, 1) for topic in self._subscriptions])
        self._connected.set()

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self._connected.is_set():
            log.warning("MQTT connection of %s lost: %s", self.client_id, reason_code)
        self._connected.clear()

    def _handle_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for topic, code in zip(self._subscriptions, reason_codes, strict=False):
            if code.is_failure:
                log.error("MQTT broker refused subscription %s: %s", topic, code)
                return
        self._subscribed.set()

    def _handle_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        if self._on_message is None:
            return
        try:
            self._on_message(message.topic, bytes(message.payload))
        except Exception:  # one bad message must not stop the network thread
            log.exception("handling a message on %s failed", message.topic)
