"""The agent config file a new box needs, as ``sideline cloud device add`` prints it."""

from __future__ import annotations

import json
from dataclasses import dataclass

from cloud.devices.registry import DeviceCredentials

__all__ = ["BoxEndpoints", "render_agent_config"]


@dataclass(frozen=True)
class BoxEndpoints:
    """Where the *box* reaches the cloud (often not the addresses the cloud uses inside)."""

    mqtt_host: str
    mqtt_port: int
    mqtt_tls: bool
    prefix: str
    s3_endpoint_url: str | None
    s3_region: str
    bucket: str


def _s(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render_agent_config(credentials: DeviceCredentials, endpoints: BoxEndpoints) -> str:
    s3_endpoint = (
        f"endpoint_url = {_s(endpoints.s3_endpoint_url)}\n"
        if endpoints.s3_endpoint_url
        else "# endpoint_url: empty means AWS S3\n"
    )
    return (
        f"# Sideline agent configuration for {credentials.device_id} "
        f"({credentials.org}), from `sideline cloud device add`.\n"
        "# It holds this box's secrets: copy it to /etc/sideline/agent.toml (mode 600).\n"
        "# Check it on the box with `sideline agent check --config /etc/sideline/agent.toml`.\n"
        "\n[device]\n"
        f"org = {_s(credentials.org)}\n"
        f"id = {_s(credentials.device_id)}\n"
        f"name = {_s(credentials.name[:100])}\n"
        "\n# One [[cameras]] table per camera; edit to match the box (docs/agent.example.toml).\n"
        "[[cameras]]\n"
        'id = "main"\n'
        'kind = "picamera"\n'
        "\n[mqtt]\n"
        f"host = {_s(endpoints.mqtt_host)}\n"
        f"port = {endpoints.mqtt_port}\n"
        f"tls = {'true' if endpoints.mqtt_tls else 'false'}\n"
        f"username = {_s(credentials.mqtt_username)}\n"
        f"password = {_s(credentials.mqtt_password)}\n"
        f"prefix = {_s(endpoints.prefix)}\n"
        "\n[s3]\n"
        f"{s3_endpoint}"
        f"region = {_s(endpoints.s3_region)}\n"
        f"bucket = {_s(endpoints.bucket)}\n"
        f"access_key_id = {_s(credentials.s3_access_key_id)}\n"
        f"secret_access_key = {_s(credentials.s3_secret_access_key)}\n"
        f"# this key may write only under {credentials.s3_prefix}\n"
    )
