"""The MQTT connection: one thread owns the paho client and everything it does.

paho-mqtt 2.x writes to the socket from whichever thread calls ``publish()``
unless its own loop thread runs; to keep one writer without giving up control
of reconnects, this class drives paho's external-loop API (``loop_read``,
``loop_write``, ``loop_misc``) from its own ``select`` loop, and other threads
hand it :class:`PublishRequest` objects through a queue and a wake-up pipe.

Connection rules: MQTT v5, ``clean_start=False`` with a session expiry, so the
broker keeps our subscriptions and queued receipts while the box is offline;
the last will is a retained ``offline`` Status; on every (re)connect the link
publishes a retained ``online`` Status and subscribes again to the down
channels. Reconnects back off exponentially with full jitter. A broker that
refuses our credentials is logged as such and retried at the longest delay.
"""

from __future__ import annotations

import logging
import os
import select
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from agent.sync.backoff import Backoff
from agent.sync.config import MqttConfig
from agent.sync.link_types import DeliveryOutcome, LinkListener, LinkStats, PublishRequest
from agent.sync.paho_client import build_client, connect_properties
from protocol import DOWN_CHANNELS, Channel, Topic, TopicError, parse_topic

__all__ = ["MqttLink"]

log = logging.getLogger(__name__)

_AUTH_FAILURES = {"Bad user name or password", "Not authorized", "Banned"}
_STABLE_AFTER_S = 10.0  # a connection that lasted this long resets the backoff


class MqttLink:
    def __init__(
        self,
        config: MqttConfig,
        *,
        org: str,
        device_id: str,
        online_status: Callable[[], bytes],
        offline_status: bytes,
        max_in_flight: int,
    ) -> None:
        self._config = config
        self._org = org
        self._device_id = device_id
        self._online_status = online_status
        self._offline_status = offline_status
        self.stats = LinkStats()
        self._listeners: list[LinkListener] = []
        self._requests: deque[PublishRequest] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._drain_s = 0.0
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._connected = False
        self._subscribed = False
        self._by_mid: dict[int, PublishRequest] = {}
        self._last_tick = time.monotonic()
        self._auth_failed = False
        self._client = build_client(
            config,
            client_id=config.client_id or device_id,
            will_topic=self.topic(Channel.STATUS),
            will_payload=offline_status,
            max_in_flight=max_in_flight,
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

    # --- API for other threads ----------------------------------------------

    def add_listener(self, listener: LinkListener) -> None:
        self._listeners.append(listener)

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def subscribed(self) -> bool:
        """Connected, and the broker has granted the down-channel subscriptions."""
        return self._connected and self._subscribed

    def topic(self, channel: Channel) -> str:
        return str(Topic(self._config.prefix, self._org, self._device_id, channel))

    def publish(self, request: PublishRequest) -> None:
        if request.drop_if_offline and not self._connected:
            _report(request, DeliveryOutcome.NOT_SENT, "offline")
            return
        with self._lock:
            self._requests.append(request)
        self._wake()

    def alive(self, within_s: float) -> bool:
        return time.monotonic() - self._last_tick < within_s

    def stop(self, drain_s: float = 0.0) -> None:
        """Ask ``run()`` to finish: flush what is queued for up to ``drain_s``, then disconnect."""
        self._drain_s = drain_s
        self._stop.set()
        self._wake()

    # --- the link's thread ---------------------------------------------------

    def run(self) -> None:
        backoff = Backoff(self._config.reconnect_min_s, self._config.reconnect_max_s)
        try:
            while not self._stop.is_set():
                self._last_tick = time.monotonic()
                try:
                    self._client.connect(
                        self._config.host,
                        self._config.port,
                        keepalive=self._config.keepalive_s,
                        clean_start=False,
                        properties=connect_properties(self._config),
                    )
                except (OSError, ssl.SSLError) as exc:
                    self._note_error(f"cannot reach {self._config.host}:{self._config.port}: {exc}")
                else:
                    started = time.monotonic()
                    self._serve()
                    if self.stats.connected_since and time.monotonic() - started > _STABLE_AFTER_S:
                        backoff.reset()
                if self._stop.is_set():
                    break
                delay = backoff.max_s if self._auth_failed else backoff.next_delay()
                self._sleep(delay)
        finally:
            self._fail_pending("the link stopped")

    def _serve(self) -> None:
        """Run one connection until it drops or we stop."""
        deadline = time.monotonic() + self._config.connect_timeout_s
        stop_deadline: float | None = None
        while True:
            now = time.monotonic()
            self._last_tick = now
            sock = self._client.socket()
            if sock is None:
                return
            if not self._connected and now > deadline:
                self._note_error(f"no CONNACK within {self._config.connect_timeout_s} s")
                self._client.disconnect()
                return
            if self._connected:
                self._send_requests()  # before stopping too: a last ack may be queued
            if self._stop.is_set():
                if stop_deadline is None:
                    stop_deadline = now + self._drain_s
                    if self._connected:  # a clean DISCONNECT suppresses the will: say it
                        info = self._client.publish(
                            self.topic(Channel.STATUS), self._offline_status, qos=1, retain=True
                        )
                        self._by_mid[info.mid] = PublishRequest(
                            Channel.STATUS, self._offline_status, retain=True
                        )
                if not self._connected or not self._by_mid or now >= stop_deadline:
                    self._client.disconnect()
                    self._client.loop_write()
                    return
            pending = getattr(sock, "pending", lambda: 0)()
            wanted = [sock] if self._client.want_write() else []
            watched: list[Any] = [sock, self._wake_r]
            readable, _, _ = select.select(watched, wanted, [], 0 if pending else 0.5)
            if self._wake_r in readable:
                _drain_pipe(self._wake_r)
            if (
                sock in readable or pending
            ) and self._client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            if (
                self._client.want_write()
                and self._client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS
            ):
                return
            if self._client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return

    def _send_requests(self) -> None:
        while True:
            with self._lock:
                if not self._requests:
                    return
                request = self._requests.popleft()
            info = self._client.publish(
                self.topic(request.channel), request.payload, qos=request.qos, retain=request.retain
            )
            self.stats.published += 1
            if info.rc == MQTTErrorCode.MQTT_ERR_QUEUE_SIZE:
                _report(request, DeliveryOutcome.NOT_SENT, "paho's queue is full")
            elif request.qos == 0:
                ok = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS
                outcome = DeliveryOutcome.DELIVERED if ok else DeliveryOutcome.NOT_SENT
                _report(request, outcome, mqtt.error_string(info.rc))
            else:
                # Queued in paho even without a connection (MQTT_ERR_NO_CONN): it is
                # sent again after the next CONNACK. Completion comes via on_publish.
                self._by_mid[info.mid] = request

    # --- paho callbacks (on this thread) -------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._auth_failed = str(reason_code) in _AUTH_FAILURES
            hint = (
                "; check mqtt.username and mqtt.password (the broker refused them)"
                if self._auth_failed
                else ""
            )
            self._note_error(f"broker refused the connection: {reason_code}{hint}")
            return
        self._auth_failed = False
        self._connected = True
        self.stats.connects += 1
        self.stats.connected_since = time.monotonic()
        self.stats.history.append(f"connected (session present: {flags.session_present})")
        log.info(
            "connected to %s:%s (session present: %s)",
            self._config.host,
            self._config.port,
            flags.session_present,
        )
        client.publish(self.topic(Channel.STATUS), self._online_status(), qos=1, retain=True)
        client.subscribe(
            [
                (self.topic(channel), mqtt.SubscribeOptions(qos=1))
                for channel in sorted(DOWN_CHANNELS)
            ]
        )
        for listener in self._listeners:
            listener.on_connected(bool(flags.session_present))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was_connected = self._connected
        self._connected = False
        self._subscribed = False
        self.stats.connected_since = None
        if was_connected:
            reason = str(reason_code)
            self.stats.history.append(f"disconnected: {reason}")
            if self._stop.is_set():
                log.info("disconnected from the broker (stopping)")
            else:
                log.warning("lost the broker connection: %s; reconnecting", reason)
            for listener in self._listeners:
                listener.on_disconnected(reason)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            self._note_error(f"the broker refused our subscriptions: {', '.join(failed)}")
        else:
            self._subscribed = True

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        request = self._by_mid.pop(mid, None)
        if reason_code.is_failure:
            self.stats.refused += 1
            topic = self.topic(request.channel) if request else "?"
            self._note_error(f"the broker refused a publish to {topic}: {reason_code} (check ACL)")
            if request is not None:
                _report(request, DeliveryOutcome.REFUSED, str(reason_code))
            return
        self.stats.delivered += 1
        if request is not None:
            _report(request, DeliveryOutcome.DELIVERED, "")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            topic = parse_topic(message.topic, prefix=self._config.prefix)
        except TopicError as exc:
            log.error("ignored a message on an unexpected topic: %s", exc)
            return
        if topic.channel not in DOWN_CHANNELS or topic.device != self._device_id:
            log.error(
                "ignored a message on %s: not one of this device's down channels", message.topic
            )
            return
        for listener in self._listeners:
            try:
                listener.on_message(topic.channel, bytes(message.payload))
            except Exception:  # a listener's bug must not take the connection down
                log.exception("handling a %s message failed", topic.channel.value)

    # --- helpers -------------------------------------------------------------

    def _note_error(self, message: str) -> None:
        if message != self.stats.last_error:
            log.error("mqtt: %s", message)
        self.stats.last_error = message
        self.stats.history.append(message)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            self._last_tick = time.monotonic()
            remaining = deadline - self._last_tick
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, 1.0))

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except BlockingIOError:
            pass  # the pipe is full: the loop is already awake

    def _fail_pending(self, reason: str) -> None:
        with self._lock:
            pending = list(self._requests) + list(self._by_mid.values())
            self._requests.clear()
            self._by_mid.clear()
        for request in pending:
            _report(request, DeliveryOutcome.NOT_SENT, reason)

    def close(self) -> None:
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _report(request: PublishRequest, outcome: DeliveryOutcome, detail: str) -> None:
    if request.on_outcome is not None:
        try:
            request.on_outcome(outcome, detail)
        except Exception:
            log.exception("a publish outcome handler failed")


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
