"""The cloud's MQTT connection (paho-mqtt 2.x, MQTT v5), for the ingest and the API.

:class:`CloudMqttClient` connects with the cloud's credentials, checks the
CONNACK's reason code, re-subscribes on every (re)connection and publishes
thread-safely. Code that only sends (the control service, receipts) depends on
the narrow :class:`MessagePublisher` protocol instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from cloud.config import CloudMqttConfig
from cloud.errors import CloudError

__all__ = [
    "CloudMqttClient",
    "MessagePublisher",
    "MqttUnavailable",
    "PublishError",
    "Subscription",
    "cloud_client_id",
]

log = logging.getLogger(__name__)


class MqttUnavailable(CloudError, RuntimeError):
    """The broker could not be reached or refused the connection."""


class PublishError(CloudError, RuntimeError):
    """The broker did not take a message in time."""


class MessagePublisher(Protocol):
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


def cloud_client_id(config: CloudMqttConfig, role: str, stable: str | None = None) -> str:
    """An MQTT client id for one of the cloud's processes that nobody can guess.

    A client that connects with another's id disconnects it and takes its
    session, so the cloud's ids end in a part no device knows: 16 random hex
    digits, or, for a ``stable`` id (an ingest worker's persistent session), an
    HMAC of it keyed with the cloud's MQTT password, the same at every start.
    (On the production broker a device cannot even choose its id: see
    ``cloud.devices.broker_auth``.)
    """
    if stable is None:
        return f"{config.client_id_prefix}-{role}-{secrets.token_hex(8)}"
    key = (config.password.get_secret_value() if config.password else "").encode()
    tag = hmac.new(key, f"{role}:{stable}".encode(), hashlib.sha256).hexdigest()[:16]
    return f"{config.client_id_prefix}-{role}-{stable}-{tag}"


@dataclass(frozen=True)
class Subscription:
    topic_filter: str
    qos: int = 1


MessageHandler = Callable[[mqtt.MQTTMessage, int], None]
"""Called on paho's network thread with the message and the connection generation."""


class CloudMqttClient:
    """One connection to the broker; ``generation`` counts successful connections."""

    def __init__(
        self,
        config: CloudMqttConfig,
        *,
        client_id: str,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        receive_maximum: int | None = None,
        manual_ack: bool = False,
        subscriptions: Sequence[Subscription] = (),
        on_message: MessageHandler | None = None,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self._clean_start = clean_start
        self._session_expiry_s = session_expiry_s
        self._receive_maximum = receive_maximum
        self._subscriptions = list(subscriptions)
        self._on_message = on_message
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._lock = threading.Lock()
        self.generation = 0
        self.last_refusal: str | None = None
        self._closing = False
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=manual_ack,
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password else None
            self._client.username_pw_set(config.username, password)
        if config.tls:
            ca = str(config.ca_file) if config.ca_file else None
            self._client.tls_set(ca_certs=ca, cert_reqs=ssl.CERT_REQUIRED)
        self._client.reconnect_delay_set(1, 30)
        self._client.on_connect = self._handle_connect
        self._client.on_disconnect = self._handle_disconnect
        self._client.on_message = self._handle_message
        self._client.on_subscribe = self._handle_subscribe

    # -- lifecycle --------------------------------------------------------------

    def connect(self, timeout_s: float = 10.0) -> None:
        """Connect and start the network thread; raise if not connected in time."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self._session_expiry_s
        if self._receive_maximum is not None:
            properties.ReceiveMaximum = self._receive_maximum
        try:
            self._client.connect(
                self.config.host,
                self.config.port,
                keepalive=30,
                clean_start=self._clean_start,
                properties=properties,
            )
        except OSError as exc:
            raise MqttUnavailable(
                f"cannot reach the MQTT broker at {self.config.host}:{self.config.port}: {exc}"
            ) from None
        self._client.loop_start()
        if not self._connected.wait(timeout_s):
            self._client.loop_stop()
            reason = self.last_refusal or "no CONNACK"
            raise MqttUnavailable(
                f"MQTT broker {self.config.host}:{self.config.port} did not accept "
                f"{self.client_id!r} within {timeout_s:.0f} s: {reason}"
            )

    def close(self) -> None:
        self._closing = True  # the disconnect that follows is ours, not a lost connection
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def wait_subscribed(self, timeout_s: float) -> bool:
        """True once the broker answered this connection's SUBSCRIBE."""
        return self._subscribed.wait(timeout_s)

    # -- sending ------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        wait_s: float | None = None,
    ) -> None:
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if wait_s is None:
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
                raise PublishError(f"publishing to {topic} failed: {mqtt.error_string(info.rc)}")
            return  # queued; paho sends it once (re)connected
        try:
            info.wait_for_publish(timeout=wait_s)
        except (RuntimeError, ValueError) as exc:
            raise PublishError(f"publishing to {topic} failed: {exc}") from None
        if not info.is_published():
            raise PublishError(f"the broker did not take the message for {topic} in {wait_s} s")

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message received with ``manual_ack``."""
        self._client.ack(mid, qos)

    # -- paho callbacks (network thread) -------------------------------------------

    def _handle_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            # Do not mark a refused connection as connected (bad password, not authorised).
            self.last_refusal = str(reason_code)
            log.error("MQTT broker refused %s: %s", self.client_id, reason_code)
            return
        with self._lock:
            self.generation += 1
        if self._subscriptions:
            client.subscribe([(s.topic_filter, s.qos) for s in self._subscriptions])
        log.info(
            "MQTT connected as %s (session present: %s)", self.client_id, flags.session_present
        )
        self._connected.set()

    def _handle_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._subscribed.clear()
        if self._closing:
            log.info("MQTT connection of %s closed", self.client_id)
        else:
            log.warning("MQTT connection of %s lost: %s", self.client_id, reason_code)

    def _handle_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        for subscription, code in zip(self._subscriptions, reason_codes, strict=False):
            if code.is_failure:
                log.error(
                    "MQTT broker refused subscription %s: %s", subscription.topic_filter, code
                )
        self._subscribed.set()

    def _handle_message(
        self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage
    ) -> None:
        if self._on_message is not None:
            self._on_message(message, self.generation)
