"""Configuration of the triggers a coach can use: the button and the LAN endpoint."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr, model_validator

from core.settings import Section

__all__ = ["ButtonConfig", "LanTriggerConfig", "LongPressAction", "TriggersConfig"]


class LongPressAction(StrEnum):
    NONE = "none"
    MARKER = "marker"  # write a marker log at the press time


class ButtonConfig(Section):
    pin: int | str = Field(description="GPIO pin, BCM number or name like 'GPIO17'.")
    pull_up: bool = True
    bounce_s: float = Field(default=0.05, ge=0, le=1)
    hold_s: float = Field(default=1.5, gt=0, le=10, description="Held this long: a long press.")
    long_press: LongPressAction = LongPressAction.MARKER
    led_pin: int | str | None = Field(default=None, description="Optional status LED.")


class LanTriggerConfig(Section):
    enabled: bool = False
    host: str = "0.0.0.0"
    port: int = Field(default=8470, ge=1, le=65535)
    token: SecretStr | None = Field(
        default=None, description="Bearer token phones must send (at least 16 characters)."
    )

    @model_validator(mode="after")
    def _token_when_enabled(self) -> LanTriggerConfig:
        if self.enabled and (self.token is None or len(self.token.get_secret_value()) < 16):
            raise ValueError(
                "the LAN endpoint is enabled but has no token of at least 16 characters; "
                "set triggers.lan.token (e.g. from `openssl rand -hex 16`)"
            )
        return self


class TriggersConfig(Section):
    button: ButtonConfig | None = None
    lan: LanTriggerConfig = Field(default_factory=LanTriggerConfig)
