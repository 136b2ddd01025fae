"""Recurring sessions: a rule, the occurrences' template, and this-and-following edits."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field, model_validator

from cloud.api.schemas.common import Input, Output, PageInfo
from cloud.api.schemas.scheduling import (
    Currency,
    Instant,
    LocalDate,
    LocalDateTime,
    LocalTime,
    ZoneName,
)
from cloud.api.schemas.sessions import SessionDevicePublic, SessionDeviceRef
from cloud.models import SessionType
from cloud.scheduling.recurrence import MAX_OCCURRENCES, Frequency, Rule, Weekday

__all__ = [
    "RuleIn",
    "SeriesCancel",
    "SeriesChange",
    "SeriesCreate",
    "SeriesPublic",
    "SeriesPublicPage",
    "SeriesResult",
    "SeriesUpdate",
]


class RuleIn(Input):
    """How the series repeats. ``biweekly`` is weekly every 2 weeks (times ``interval``).
    How the parts combine is checked when the rule is used (422 naming the part)."""

    freq: Frequency
    interval: int = Field(default=1, ge=1, le=99)
    count: int | None = Field(
        default=None, ge=1, le=MAX_OCCURRENCES, description="Occurrences in all."
    )
    until: LocalDate | None = Field(default=None, description="Last local date (inclusive).")
    weekdays: list[Weekday] = Field(
        default_factory=list, max_length=7, description="Weekly: which days (default: the start's)."
    )
    month_day: int | None = Field(
        default=None,
        ge=-1,
        le=31,
        description="Monthly: day 1-31 (29-31: that day or the month's last), -1: the last day.",
    )
    week_of_month: int | None = Field(
        default=None, ge=-1, le=4, description="Monthly with weekday: 1-4, or -1 for the last."
    )
    weekday: Weekday | None = Field(
        default=None, description="Monthly: e.g. FR with week_of_month -1."
    )

    def to_rule(self) -> Rule:
        return Rule(
            freq=self.freq,
            interval=self.interval,
            count=self.count,
            until=self.until,
            weekdays=tuple(self.weekdays),
            month_day=self.month_day,
            week_of_month=self.week_of_month,
            weekday=self.weekday,
        )


class _Template(Input):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    type: SessionType = SessionType.PRACTICE
    team_id: UUID | None = None
    host_id: UUID | None = Field(default=None, description="A coach/host (or above) of the org.")
    duration_minutes: int = Field(gt=0, le=7 * 24 * 60)
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)
    max_participants: int | None = Field(default=None, gt=0, le=100_000)
    is_free: bool = True
    price_minor: int | None = Field(default=None, ge=0, le=10**12)
    currency: Currency | None = None
    form_template_id: UUID | None = None
    devices: list[SessionDeviceRef] = Field(default_factory=list, max_length=32)
    auto_start: bool = Field(
        default=False,
        description="Each occurrence goes live at its time and ends after its duration.",
    )
    late_grace_minutes: int | None = Field(
        default=None,
        ge=0,
        le=24 * 60,
        description="Arriving later than this is 'late' (default 5).",
    )

    @model_validator(mode="after")
    def _priced(self) -> _Template:
        if not self.is_free and (self.price_minor is None or self.currency is None):
            raise ValueError("a paid session (is_free=false) needs price_minor and currency")
        return self


class SeriesCreate(_Template):
    start: LocalDateTime = Field(
        description="The first occurrence's local wall time, e.g. '2027-03-01T18:00' "
        "(moved to the rule's first day on or after it)."
    )
    timezone: ZoneName
    rule: RuleIn


class SeriesChange(Input):
    """Fields to change; only those given change."""

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    type: SessionType | None = None
    team_id: UUID | None = None
    host_id: UUID | None = None
    start_time: LocalTime | None = Field(default=None, description="New local time of day.")
    timezone: ZoneName | None = None
    duration_minutes: int | None = Field(default=None, gt=0, le=7 * 24 * 60)
    rule: RuleIn | None = Field(default=None, description="A new rule from `effective_from` on.")
    meeting_url: str | None = Field(default=None, max_length=2048, pattern=r"^https?://")
    meeting_provider: str | None = Field(default=None, max_length=64)
    max_participants: int | None = Field(default=None, gt=0, le=100_000)
    is_free: bool | None = None
    price_minor: int | None = Field(default=None, ge=0, le=10**12)
    currency: Currency | None = None
    form_template_id: UUID | None = None
    devices: list[SessionDeviceRef] | None = Field(default=None, max_length=32)
    auto_start: bool | None = None
    late_grace_minutes: int | None = Field(default=None, ge=0, le=24 * 60)


class SeriesUpdate(SeriesChange):
    """This and following: from the occurrence at ``effective_from`` (default: now) on.
    Past occurrences, live ones and occurrences edited on their own are not touched."""

    effective_from: Instant | None = None

    @model_validator(mode="after")
    def _not_null(self) -> SeriesUpdate:
        for name in (
            "title",
            "type",
            "start_time",
            "timezone",
            "duration_minutes",
            "rule",
            "is_free",
        ):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class SeriesCancel(Input):
    """Cancel every occurrence from ``effective_from`` (default: now) on, edited ones too."""

    effective_from: Instant | None = None
    reason: str | None = Field(default=None, max_length=2000)


class SeriesPublic(Output):
    id: UUID
    title: str
    description: str | None
    type: SessionType
    team_id: UUID | None
    host_id: UUID | None
    start_local: str = Field(description="First occurrence, local wall time in `timezone`.")
    timezone: str
    rrule: str = Field(description="RFC 5545 RRULE (UNTIL in UTC).")
    duration_minutes: int
    meeting_url: str | None
    meeting_provider: str | None
    max_participants: int | None
    is_free: bool
    price_minor: int | None
    currency: str | None
    form_template_id: UUID | None
    devices: list[SessionDevicePublic]
    auto_start: bool
    late_grace_minutes: int | None
    materialised_until: datetime | None = Field(
        description="Occurrences before this exist as sessions; empty: all of them."
    )
    continues_id: UUID | None = Field(description="The series this one continues after an edit.")
    occurrences: int = Field(description="Occurrence sessions (any status).")
    next_occurrence_at: datetime | None
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None


class SeriesPublicPage(PageInfo):
    data: list[SeriesPublic]


class SeriesResult(Output):
    """A series after a change, and the series that continues it if it was split."""

    series: SeriesPublic
    continued_by: SeriesPublic | None = None
    changed_occurrences: int
    created_occurrences: int
    removed_occurrences: int = Field(
        description="Cancelled, or removed when nobody had registered."
    )
