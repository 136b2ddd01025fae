"""deploy/cloud: the compose file parses, runs real commands with real settings, and the
monitoring files name metrics the cloud exports.

Docker is not available where the tests run, so the file is parsed and checked, not
started: every SIDELINE_CLOUD_* variable is a setting of cloud/config.py and the whole
environment of each service loads (with .env.example's values) as a production config;
each command parses with the real CLI; the files it mounts exist.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from pydantic import BaseModel
from typer.main import get_command

import cloud.api.observability
import cloud.ingest.metrics
import cloud.observability.metrics
import cloud.outbox.metrics
from cloud.config import CloudConfig, load_cloud_config
from sideline.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "cloud"
SIDELINE_IMAGE = "sideline-cloud:latest"
# Variables the sideline services may set that are not cloud settings.
OTHER_VARIABLES: frozenset[str] = frozenset()
OPERATOR_PROVIDED = {"./certs"}  # the boxes' TLS certificate: the operator's (compose.yaml says)
_REFERENCE = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def dotenv() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / ".env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name] = value
    return values


def substitute(text: str, dotenv: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in dotenv:
            return dotenv[name]
        assert default is not None, f"${{{name}}} is neither in .env.example nor defaulted"
        return default

    return _REFERENCE.sub(value, text)


def sideline_services(compose: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in compose["services"].items():
        if service.get("image") == SIDELINE_IMAGE:
            yield name, service


def setting_exists(variable: str) -> bool:
    """Whether SIDELINE_CLOUD_A__B__C names the field a.b.c of the cloud's config."""
    model: type[BaseModel] = CloudConfig
    parts = variable.removeprefix("SIDELINE_CLOUD_").lower().split("__")
    for index, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if index < len(parts) - 1:
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return False
            model = annotation
    return True


def test_the_topology_is_the_documented_one(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {
        "postgres",
        "migrate",
        "broker-files",
        "mosquitto",
        "seaweedfs",
        "bucket",
        "api-1",
        "api-2",
        "ingest-1",
        "ingest-2",
        "proxy",
    } <= set(services)
    assert services["migrate"]["command"] == ["cloud", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api-1", "api-2", "ingest-1", "ingest-2"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }, name
    workers = [services[n]["environment"] for n in ("ingest-1", "ingest-2")]
    assert len({env["SIDELINE_CLOUD_INGEST__WORKER_ID"] for env in workers}) == 2
    assert {env["SIDELINE_CLOUD_MQTT__SHARED_GROUP"] for env in workers} == {"ingest"}
    assert services["proxy"]["image"].startswith("caddy")
    assert set(services["proxy"]["depends_on"]) == {"api-1", "api-2"}
    # Only the proxy and the boxes' TLS listener face the outside.
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy", "mosquitto", "grafana"}
    assert services["mosquitto"]["ports"] == ["8883:8883"]
    assert services["grafana"]["ports"][0].startswith("127.0.0.1:")


def test_every_environment_variable_is_a_real_setting(
    compose: dict[str, Any], dotenv: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = 0
    for name, service in sideline_services(compose):
        environment = {k: substitute(str(v), dotenv) for k, v in service["environment"].items()}
        for variable in environment:
            if variable.startswith("SIDELINE_CLOUD_"):
                assert setting_exists(variable), f"{name}: {variable} is no setting"
            else:
                assert variable in OTHER_VARIABLES, f"{name}: {variable} is unexpected"
        for variable in list(os.environ):
            if variable.startswith("SIDELINE_CLOUD_"):
                monkeypatch.delenv(variable)
        for variable, value in environment.items():
            monkeypatch.setenv(variable, value)
        config = load_cloud_config(None)  # raises ConfigError naming any bad value
        assert config.environment == "production"
        assert config.database_url.startswith("postgresql://sideline:")
        assert config.log_format == "json"
        checked += 1
    assert checked == 6  # migrate, broker-files, two API replicas, two ingest workers


def test_each_command_parses_with_the_real_cli(compose: dict[str, Any]) -> None:
    root: Any = get_command(app)  # typer's own click
    for name, service in sideline_services(compose):
        args = [str(part) for part in service["command"]]
        command = root
        context = root.context_class(root, info_name="sideline")
        while hasattr(command, "commands") and args and args[0] in command.commands:
            command = command.commands[args.pop(0)]
        assert not hasattr(command, "commands"), f"{name}: {service['command']} is a group"
        # Parses the options and arguments exactly as a run would, without running it.
        command.make_context(command.name, args, parent=context)


def test_the_files_it_mounts_are_here(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith("."):
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"
                continue
            if source in OPERATOR_PROVIDED:
                continue
            assert (DEPLOY / source).exists(), f"{name} mounts {source}, which is missing"
    build = compose["x-sideline"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


def test_the_proxy_and_prometheus_reach_the_services(compose: dict[str, Any]) -> None:
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    assert "reverse_proxy api-1:8000 api-2:8000" in caddyfile
    assert "health_uri /healthz" in caddyfile
    assert re.search(r"@internal path /metrics /readyz\s+respond @internal 404", caddyfile)
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]
    }
    assert targets["sideline-api"] == ["api-1:8000", "api-2:8000"]
    port = compose["services"]["ingest-1"]["environment"]["SIDELINE_CLOUD_INGEST__HTTP_PORT"]
    assert targets["sideline-ingest"] == [f"ingest-1:{port}", f"ingest-2:{port}"]


def exported_series() -> set[str]:
    """Every series name the cloud's processes can expose (a counter's ``_total``, a
    histogram's ``_bucket``, ``_sum`` and ``_count``)."""
    names: set[str] = set()
    for module in (
        cloud.api.observability,
        cloud.ingest.metrics,
        cloud.observability.metrics,
        cloud.outbox.metrics,
    ):
        for value in vars(module).values():
            if not isinstance(value, MetricWrapperBase):
                continue
            for family in value.describe():
                suffixes = {
                    "counter": ("_total",),
                    "histogram": ("_bucket", "_sum", "_count"),
                    "gauge": ("",),
                }[family.type]
                names.update(family.name + suffix for suffix in suffixes)
    return names


def test_the_dashboard_and_alerts_use_metrics_the_cloud_exports() -> None:
    exported = exported_series()
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "sideline.json").read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    alerts = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    expressions += [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
    used = {name for expr in expressions for name in re.findall(r"\bsideline_[a-z0-9_]+", expr)}
    assert used, "no metric named"
    assert used <= exported, sorted(used - exported)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " ".join(panel["title"] for panel in dashboard["panels"]).lower()
    for wanted in ("online", "lag", "dead letters", "api latency", "backlogs per box"):
        assert wanted in titles, wanted
