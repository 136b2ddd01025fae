"""``sideline cloud device …`` and ``sideline cloud broker-files``: boxes and their access."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sideline.cli.errors import user_errors

app = typer.Typer(help="Register boxes and manage their credentials.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Cloud TOML config (SIDELINE_CLOUD_* overrides it)."),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Overrides the config's database_url.")
]


def _open(config: Path | None, database_url: str | None):  # type: ignore[no-untyped-def]
    from peewee import OperationalError

    from cloud.config import load_cloud_config
    from cloud.db import DatabaseUrlError
    from cloud.migrations import SchemaBehind, SchemaTooNew, open_current_database

    with user_errors(DatabaseUrlError, SchemaBehind, SchemaTooNew, OperationalError):
        loaded = load_cloud_config(config)
        open_current_database(database_url or loaded.database_url)
    return loaded


@app.command()
def add(
    org: Annotated[str, typer.Option(help="Organisation slug the box belongs to.")],
    name: Annotated[str, typer.Option(help="What people call it, e.g. 'North pitch'.")],
    device_id: Annotated[
        str | None, typer.Option("--id", help="Device id (default: from the name).")
    ] = None,
    mqtt_host: Annotated[str | None, typer.Option(help="Broker host as the box sees it.")] = None,
    mqtt_port: Annotated[int | None, typer.Option(help="Broker port as the box sees it.")] = None,
    mqtt_tls: Annotated[bool | None, typer.Option(help="TLS to the broker.")] = None,
    s3_endpoint: Annotated[str | None, typer.Option(help="S3 endpoint as the box sees it.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write the agent config here (mode 600).")
    ] = None,
    seaweed_master: Annotated[
        str | None,
        typer.Option(help="Give the key to this SeaweedFS now (host:port.grpcport)."),
    ] = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Register a box: its id, MQTT password and S3 key; print its agent config."""
    from cloud.devices.agent_config import BoxEndpoints, render_agent_config
    from cloud.devices.registry import create_device, s3_identity
    from cloud.errors import DomainError

    loaded = _open(config, database_url)
    with user_errors(DomainError):
        credentials = create_device(org, name, device_id=device_id)
    endpoints = BoxEndpoints(
        mqtt_host=mqtt_host or loaded.mqtt.host,
        mqtt_port=mqtt_port or loaded.mqtt.device_port,
        mqtt_tls=loaded.mqtt.tls if mqtt_tls is None else mqtt_tls,
        prefix=loaded.mqtt.prefix,
        s3_endpoint_url=s3_endpoint or loaded.s3.public_endpoint_url or loaded.s3.endpoint_url,
        s3_region=loaded.s3.region,
        bucket=loaded.s3.bucket,
    )
    text = render_agent_config(credentials, endpoints)
    identity = s3_identity(credentials, loaded.s3.bucket)
    if seaweed_master is not None:
        from sideline.services.process import ServiceError
        from sideline.services.seaweed import configure_identity

        with user_errors(ServiceError):
            configure_identity(seaweed_master, identity)
    if out is not None:
        out.touch(mode=0o600)
        out.write_text(text)
        typer.echo(f"agent config for {credentials.device_id} written to {out}", err=True)
    else:
        typer.echo(text)
    if seaweed_master is not None:
        store_step = f"Its S3 key is live on SeaweedFS {seaweed_master}."
    else:
        store_step = (
            "Give the object store this identity (SeaweedFS: --seaweed-master or an s3.json "
            "entry; AWS: an IAM user whose policy allows the same prefix):\n"
            + json.dumps(identity.as_config(), indent=2)
        )
    typer.echo(
        f"device {credentials.device_id} added to {credentials.org}.\n"
        "Next: regenerate the broker's files (sideline cloud broker-files --out DIR, then\n"
        f"SIGHUP mosquitto). {store_step}",
        err=True,
    )


@app.command("rotate")
def rotate(
    device_id: Annotated[str, typer.Argument(help="The device whose secrets to replace.")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """New MQTT and S3 secrets for a box (the old ones stop working once applied)."""
    from cloud.devices.registry import rotate_credentials
    from cloud.errors import DomainError

    _open(config, database_url)
    with user_errors(DomainError):
        credentials = rotate_credentials(device_id)
    typer.echo(f"mqtt password     {credentials.mqtt_password}")
    typer.echo(f"s3 access key     {credentials.s3_access_key_id}")
    typer.echo(f"s3 secret key     {credentials.s3_secret_access_key}")


@app.command("retire")
def retire(
    device_id: Annotated[str, typer.Argument(help="The device to retire.")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Refuse a box's messages from now on (it leaves the broker's password file)."""
    from cloud.devices.registry import retire_device
    from cloud.errors import DomainError

    _open(config, database_url)
    with user_errors(DomainError):
        retire_device(device_id)
    typer.echo(f"device {device_id} retired; regenerate the broker files")


@app.command("list")
def list_devices(
    org: Annotated[str | None, typer.Option(help="Only this organisation's boxes.")] = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Boxes with their state as the ingest last saw it."""
    from cloud.models import Device, DeviceStatus, Organisation

    _open(config, database_url)
    query = (
        Device.select(Device, Organisation)
        .join(Organisation)
        .order_by(Organisation.slug, Device.id)
    )
    if org is not None:
        query = query.where(Organisation.slug == org)
    states = {row.device_id: row.state for row in DeviceStatus.select()}
    for device in query:
        state = "retired" if device.retired_at else states.get(device.id, "never seen")
        typer.echo(f"{device.org.slug}/{device.id}\t{state}\t{device.name}")


def broker_files(
    out: Annotated[Path, typer.Option(help="Folder for the listeners, password and ACL files.")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
    devices_listener: Annotated[
        str | None,
        typer.Option(
            help="[HOST:]PORT the boxes connect to (default: every interface, mqtt.device_port)."
        ),
    ] = None,
    cloud_listener: Annotated[
        str | None,
        typer.Option(
            help="[HOST:]PORT of the cloud's own listener (default: 127.0.0.1, mqtt.port)."
        ),
    ] = None,
    devices_certfile: Annotated[
        Path | None,
        typer.Option(help="TLS on the boxes' listener: the certificate (PEM, full chain)."),
    ] = None,
    devices_keyfile: Annotated[
        Path | None, typer.Option(help="The private key of --devices-certfile (PEM).")
    ] = None,
) -> None:
    """Write Mosquitto's two listeners (boxes, cloud) and their password and ACL files."""
    from cloud.devices.broker_auth import Listener, write_broker_files

    loaded = _open(config, database_url)
    if loaded.mqtt.username is None or loaded.mqtt.password is None:
        typer.echo(
            "error: mqtt.username and mqtt.password (the cloud's own login) are needed", err=True
        )
        raise typer.Exit(code=2)
    try:
        devices = _listener(devices_listener, Listener(loaded.mqtt.device_port))
        if devices_certfile is not None or devices_keyfile is not None:
            devices = Listener(devices.port, devices.host, devices_certfile, devices_keyfile)
        files = write_broker_files(
            out,
            prefix=loaded.mqtt.prefix,
            services={loaded.mqtt.username: loaded.mqtt.password.get_secret_value()},
            shared_group=loaded.mqtt.shared_group,
            devices_listener=devices,
            cloud_listener=_listener(cloud_listener, Listener(loaded.mqtt.port, "127.0.0.1")),
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(
        f"{files.listeners_file} (include it in mosquitto.conf once), "
        f"{files.device_passwords} ({files.devices} devices), {files.device_acl}, "
        f"{files.cloud_passwords} and {files.cloud_acl} written; send Mosquitto a SIGHUP"
    )


def _listener(text: str | None, default: Any) -> Any:
    from cloud.devices.broker_auth import Listener

    if text is None:
        return default
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        typer.echo(f"error: {text!r} is not [HOST:]PORT", err=True)
        raise typer.Exit(code=2)
    return Listener(int(port), host)
