"""Configuration of the triggers a coach can use: the button and the LAN endpoint."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field, SecretStr

from sideline.settings import Section

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
    token: SecretStr | None = Field(default=None, description="Bearer token phones must send.")


class TriggersConfig(Section):
    button: ButtonConfig | None = None
    lan: LanTriggerConfig = Field(default_factory=LanTriggerConfig)
