"""Building the paho client the link drives: MQTT v5, credentials, TLS, last will, bounds."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.sync.config import MqttConfig

__all__ = ["apply_credentials", "build_client", "connect_properties"]


def build_client(
    config: MqttConfig,
    *,
    client_id: str,
    will_topic: str,
    will_payload: bytes,
    max_in_flight: int,
) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    # Our own window bounds what we hand to paho; these limits make sure paho
    # never grows an unbounded queue of its own (acks, status, heartbeats on top).
    client.max_queued_messages_set(max_in_flight + 64)
    client.max_inflight_messages_set(max_in_flight + 64)
    client.connect_timeout = config.connect_timeout_s
    apply_credentials(client, config)
    client.will_set(will_topic, will_payload, qos=1, retain=True)
    return client


def apply_credentials(client: mqtt.Client, config: MqttConfig) -> None:
    """Username/password and TLS (CA, client certificate) from the config, when set."""
    if config.username is not None:
        password = config.password.get_secret_value() if config.password else None
        client.username_pw_set(config.username, password)
    if config.tls:
        client.tls_set(
            ca_certs=str(config.ca_file) if config.ca_file else None,
            certfile=str(config.cert_file) if config.cert_file else None,
            keyfile=str(config.key_file) if config.key_file else None,
        )


def connect_properties(config: MqttConfig) -> Properties:
    """MQTT v5 CONNECT properties: keep the session (subscriptions, queued receipts) offline."""
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = config.session_expiry_s
    return properties
