"""Loading typed settings from a TOML file plus ``SIDELINE_…`` environment overrides.

The agent and the cloud each define one pydantic-settings tree (``agent.config``,
``cloud.config``) on top of :class:`FileSettings`; :func:`load_settings` builds it
and turns every validation failure into one :class:`ConfigError` that names the
key, the value found and what is allowed.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["ConfigError", "FileSettings", "Section", "load_settings"]

_toml_file: ContextVar[Path | None] = ContextVar("sideline_toml_file", default=None)

S = TypeVar("S", bound="FileSettings")


class ConfigError(ValueError):
    """Configuration that cannot be used. The message says what, where and how to fix it."""


class Section(BaseModel):
    """A part of a settings tree: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class FileSettings(BaseSettings):
    """Base for a settings tree read from a TOML file, overridden by the environment."""

    model_config = SettingsConfigDict(
        extra="forbid",
        env_nested_delimiter="__",
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then the TOML file.
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_file.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(
    cls: type[S],
    path: Path | None,
    **overrides: Any,
) -> S:
    """Build ``cls`` from ``path`` (may be None: defaults and environment only)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    where = _describe_sources(path, prefix)
    if path is not None:
        _check_toml(path)
    _check_environment(cls, prefix, os.environ)
    token = _toml_file.set(path)
    try:
        return cls(**overrides)
    except ValidationError as error:
        raise ConfigError(_format_errors(cls, error, where)) from None
    finally:
        _toml_file.reset(token)


def _describe_sources(path: Path | None, prefix: str) -> str:
    env = f"{prefix}* environment variables" if prefix else "environment variables"
    return f"{path} and {env}" if path is not None else env


def _check_toml(path: Path) -> None:
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; create it (see docs/*.example.toml) "
            "or pass the right path with --config"
        )
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _check_environment(cls: type[BaseSettings], prefix: str, environ: Mapping[str, str]) -> None:
    """An override for a key that does not exist is a typo: say so instead of ignoring it."""
    if not prefix:
        return
    known = {name.lower() for name in cls.model_fields}
    for name in environ:
        if not name.upper().startswith(prefix.upper()):
            continue
        top = name[len(prefix) :].split("__", 1)[0].lower()
        if top not in known:
            raise ConfigError(
                f"environment variable {name} does not match any setting; "
                f"top-level keys are: {', '.join(sorted(known))} "
                f"(nested keys use '__', e.g. {prefix}MQTT__HOST)"
            )


def _format_errors(cls: type[BaseModel], error: ValidationError, where: str) -> str:
    lines = [f"invalid configuration ({where}):"]
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"]]
        key = ".".join(loc) or "(root)"
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(cls, item["loc"][:-1])
            hint = f"; allowed here: {', '.join(allowed)}" if allowed else ""
            lines.append(f"  - {key}: unknown key{hint}")
        elif item["type"] == "missing":
            lines.append(f"  - {key}: required, but not set")
        else:
            value = repr(item.get("input"))
            if len(value) > 80:
                value = value[:77] + "..."
            message = str(item["msg"]).removeprefix("Value error, ")  # pydantic's, not ours
            lines.append(f"  - {key} = {value}: {message}")
    return "\n".join(lines)


def _allowed_keys(cls: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model at ``loc`` (best effort: follows nested models and lists)."""
    model: Any = cls
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return []
        model = _inner_model(field.annotation)
        if model is None:
            return []
    fields = getattr(model, "model_fields", None)
    return sorted(fields) if fields else []


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
