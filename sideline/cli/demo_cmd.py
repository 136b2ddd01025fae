"""``sideline demo``: the whole product on one machine (the embedded default)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["demo"]


def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its broker, store, database and box.")
    ] = Path("sideline-data/demo"),
    api_port: Annotated[int, typer.Option(help="Port of the cloud API.")] = 8000,
    lan_port: Annotated[int, typer.Option(help="Port of the box's LAN trigger endpoint.")] = 8470,
    pre: Annotated[float, typer.Option(help="Seconds of pre-roll in a clip.")] = 10.0,
    post: Annotated[float, typer.Option(help="Seconds of post-roll in a clip.")] = 5.0,
) -> None:
    """Run broker, object store, cloud (ingest + API on SQLite) and one box, until Ctrl-C."""
    from sideline.demo import ORG, Demo, DemoOptions, wait_forever
    from sideline.logs import configure_logging
    from sideline.services.process import ServiceError

    configure_logging("INFO")
    options = DemoOptions(
        data_dir=data_dir, api_port=api_port, lan_port=lan_port, pre_seconds=pre, post_seconds=post
    )
    runner = Demo(options)
    stopping = False

    def request_stop(*_: object) -> None:
        # Only the first signal interrupts: a second Ctrl-C or SIGTERM (a supervisor and a
        # terminal both sending one) must not cut the orderly stop of the children short.
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        typer.echo("starting Mosquitto, SeaweedFS, the cloud (ingest + API) and a box ...")
        runner.start()
        state = runner.state
        assert state is not None
        sessions = f"{runner.api_url}/api/v1/orgs/{ORG}/sessions"
        typer.echo(
            f"""
Sideline is running (everything lives in {runner.root}; logs in {runner.logs}).

  The coach's button (a phone on the field's LAN):  {runner.lan_url}/
      box token: {state.lan_token}
    or: curl -X POST -H 'Authorization: Bearer {state.lan_token}' {runner.lan_url}/v1/clips

  The cloud API:  {runner.api_url}/docs     API token: {state.api_token}
    the live session's timeline (the clip appears a few seconds after a press, once its
    {post:g} s of post-roll are recorded):
      curl -H 'Authorization: Bearer {state.api_token}' {sessions}/{state.session_id}/timeline
    its clips, with playable links:
      curl -H 'Authorization: Bearer {state.api_token}' {sessions}/{state.session_id}/clips

demo ready; Ctrl-C stops everything.""",
        )
        dead = wait_forever(runner)
        if dead is not None:
            typer.echo(
                f"error: {dead.name} stopped unexpectedly; its log:\n{dead.log_tail()}", err=True
            )
            raise typer.Exit(code=1)
    except KeyboardInterrupt:
        typer.echo("stopping ...")
    except ServiceError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from None
    finally:
        runner.stop()
        typer.echo("stopped.")
