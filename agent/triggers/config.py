"""Configuration of the triggers a coach can use: the button and the LAN endpoint."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints, model_validator

from core.settings import Section
from protocol.ids import Segment

__all__ = [
    "ButtonConfig",
    "LanTriggerConfig",
    "LongPressAction",
    "PressAction",
    "TagConfig",
    "TriggersConfig",
]


class LongPressAction(StrEnum):
    NONE = "none"
    MARKER = "marker"  # write a marker log at the press time
    TAG = "tag"  # tag the moment (the button's ``tag``): a log and a clip from every camera


class PressAction(StrEnum):
    CLIP = "clip"  # a pre-roll clip (clips.pre_seconds / post_seconds)
    TAG = "tag"  # tag the moment (the button's ``tag``)


TagValue = str | int | float | bool


class TagConfig(Section):
    """What a tag press writes: a log of ``type`` (with ``data``, e.g. the session form's
    ``action = "goal"``) and a clip of ``[press - lead_s, press + lag_s]`` from every camera
    (or ``camera_id``), cut from the recording; the cloud asks the session's other boxes
    for the same range."""

    type: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="tag", description="The log's type, e.g. 'goal'."
    )
    data: dict[str, TagValue] = Field(default_factory=dict, description="The log's values.")
    lead_s: float = Field(default=10.0, ge=0, le=600, description="Seconds before the press.")
    lag_s: float = Field(default=5.0, ge=0, le=600, description="Seconds after the press.")
    camera_id: Segment | None = Field(default=None, description="Empty: every camera.")


class ButtonConfig(Section):
    pin: int | str = Field(description="GPIO pin, BCM number or name like 'GPIO17'.")
    pull_up: bool = True
    bounce_s: float = Field(default=0.05, ge=0, le=1)
    hold_s: float = Field(default=1.5, gt=0, le=10, description="Held this long: a long press.")
    press: PressAction = Field(default=PressAction.CLIP, description="What a short press does.")
    long_press: LongPressAction = LongPressAction.MARKER
    tag: TagConfig | None = Field(
        default=None, description="The tag a 'tag' press or long press writes."
    )
    led_pin: int | str | None = Field(default=None, description="Optional status LED.")

    @model_validator(mode="after")
    def _tag_when_tagging(self) -> ButtonConfig:
        if self.tag is None and (
            self.press is PressAction.TAG or self.long_press is LongPressAction.TAG
        ):
            raise ValueError(
                f"button {self.pin}: press or long_press is 'tag' but no tag is configured; "
                'add e.g. tag = { type = "goal", lead_s = 10, lag_s = 5 }'
            )
        return self


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
    buttons: list[ButtonConfig] = Field(
        default_factory=list,
        max_length=16,
        description="More buttons (e.g. one per tag: press = 'tag'), each on its own pin.",
    )
    lan: LanTriggerConfig = Field(default_factory=LanTriggerConfig)

    @model_validator(mode="after")
    def _pins_unique(self) -> TriggersConfig:
        pins = [str(b.pin).upper().removeprefix("GPIO") for b in self.all_buttons]
        repeated = sorted({p for p in pins if pins.count(p) > 1})
        if repeated:
            raise ValueError(f"buttons share a pin: {', '.join(repeated)}; give each its own")
        return self

    @property
    def all_buttons(self) -> list[ButtonConfig]:
        return ([self.button] if self.button is not None else []) + list(self.buttons)
