"""An organisation with one of everything, built through the real services, for API tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from peewee import Database

from cloud.api.schemas.series import RuleIn
from cloud.api.services.accounts import (
    add_membership,
    create_organisation,
    find_or_create_user,
    issue_token,
)
from cloud.models import (
    AvailabilityOverride,
    Booking,
    CalendarFeed,
    Clip,
    ClipStatus,
    Command,
    CommandState,
    DetectionEventRecord,
    FormTemplate,
    FormVersion,
    Log,
    LogOrigin,
    MeetingSlot,
    Organisation,
    OutboxMessage,
    Playlist,
    PlaylistItem,
    Role,
    Session,
    SessionDevice,
    SessionParticipant,
    SessionSeries,
    SessionStatus,
    SessionTransition,
    ShareKind,
    ShareLink,
    Team,
    TeamMember,
    WebhookSubscription,
    utc_now,
)
from cloud.mqtt import PublishError
from cloud.scheduling.recurrence import Frequency
from protocol.ids import new_id
from tests.cloud.factories import make_device

__all__ = [
    "FORM_FIELDS",
    "RecordingPublisher",
    "World",
    "auth",
    "build_world",
    "make_clip",
    "make_log",
]

FORM_FIELDS: list[dict[str, Any]] = [
    {"key": "player", "label": "Player", "type": "player", "required": True},
    {
        "key": "action",
        "label": "Action",
        "type": "select",
        "required": True,
        "options": [{"value": "shot"}, {"value": "pass"}, {"value": "tackle"}],
    },
    {"key": "minute", "label": "Minute", "type": "integer", "min": 0, "max": 130},
    {"key": "notes", "label": "Notes", "type": "long_text", "max_length": 500},
]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class RecordingPublisher:
    """Stands in for the broker connection in tests that do not need the broker itself."""

    published: list[tuple[str, bytes, bool]] = field(default_factory=list)
    fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        wait_s: float | None = None,
    ) -> None:
        if self.fail:
            raise PublishError("broker down (test)")
        with self.lock:
            self.published.append((topic, payload, retain))


@dataclass
class World:
    org: Organisation
    tokens: dict[Role, str]
    user_ids: dict[Role, UUID]
    membership_ids: dict[Role, UUID]
    token_ids: dict[Role, UUID]
    team: Team
    player: TeamMember
    form: FormTemplate
    session: Session
    draft: Session
    device_id: str
    log: Log
    clip: Clip
    event: DetectionEventRecord
    command: Command
    participant: SessionParticipant
    playlist: Playlist
    playlist_item: PlaylistItem
    share_link: ShareLink
    # With build_world(..., scheduling=True):
    series: SessionSeries | None = None
    slot: MeetingSlot | None = None  # the coach's (a host, like the host role)
    override: AvailabilityOverride | None = None
    booking: Booking | None = None  # the guest's, with the coach
    webhook: WebhookSubscription | None = None  # subscribed to booking.created
    delivery: OutboxMessage | None = None  # the booking's, to it
    feed: CalendarFeed | None = None  # the team's calendar feed, made by the coach

    @property
    def slug(self) -> str:
        return str(self.org.slug)

    def ids(self) -> set[str]:
        """Every id of this world, as the API would print them."""
        values: list[object] = [
            self.org.id,
            self.team.id,
            self.player.id,
            self.form.id,
            self.session.id,
            self.draft.id,
            self.log.id,
            self.clip.id,
            self.event.id,
            self.command.id,
            self.participant.id,
            self.playlist.id,
            self.playlist_item.id,
            self.share_link.id,
            *(
                thing.id
                for thing in (
                    self.series,
                    self.slot,
                    self.override,
                    self.booking,
                    self.webhook,
                    self.delivery,
                    self.feed,
                )
                if thing is not None
            ),
            *self.user_ids.values(),
            *self.membership_ids.values(),
            *self.token_ids.values(),
        ]
        return {str(value) for value in values} | {self.device_id}


def make_log(org: Organisation, session: Session, **fields: Any) -> Log:
    return Log.create(
        id=fields.pop("id", new_id()),
        org=org,
        session=session,
        origin=fields.pop("origin", LogOrigin.DEVICE),
        source=fields.pop("source", "marker"),
        type=fields.pop("type", "marker"),
        occurred_at=fields.pop("occurred_at", utc_now()),
        **fields,
    )


def make_clip(org: Organisation, session: Session, device_id: str, **fields: Any) -> Clip:
    started = fields.pop("started_at", utc_now())
    clip_id = fields.pop("id", new_id())
    return Clip.create(
        id=clip_id,
        org=org,
        device=device_id,
        session=session,
        camera_id=fields.pop("camera_id", "cam1"),
        started_at=started,
        ended_at=started + timedelta(seconds=30),
        duration_ms=30_000,
        width=1280,
        height=720,
        codec="h264",
        content_type="video/mp4",
        object_key=f"{org.slug}/{device_id}/{clip_id}.mp4",
        thumbnail_key=f"{org.slug}/{device_id}/{clip_id}.jpg",
        size_bytes=1000,
        sha256="0" * 64,
        triggers=[{"source": "button", "at": started.isoformat()}],
        trigger_source=fields.pop("trigger_source", "button"),
        triggered_at=started,
        status=fields.pop("status", ClipStatus.READY),
        **fields,
    )


def build_world(db: Database, slug: str, *, scheduling: bool = False) -> World:
    """The organisation; ``scheduling`` adds a series (and the rest of scheduling's things)."""
    org = create_organisation(db, slug=slug, name=slug.title())
    tokens: dict[Role, str] = {}
    user_ids: dict[Role, UUID] = {}
    membership_ids: dict[Role, UUID] = {}
    token_ids: dict[Role, UUID] = {}
    for role in Role:
        user = find_or_create_user(
            db, email=f"{role.value}@{slug}.example", name=f"{role.value} {slug}"
        )
        membership_ids[role] = add_membership(db, org=org, user=user, role=role).id
        row, minted = issue_token(db, org=org, user=user, name=role.value)
        tokens[role], user_ids[role], token_ids[role] = minted.secret, user.id, row.id
    team = Team.create(org=org, name=f"{slug} first team")
    player = TeamMember.create(team=team, display_name="Alex Keeper", number="1")
    form = FormTemplate.create(
        org=org, team=team, name="Match log", created_by=user_ids[Role.COACH]
    )
    version = FormVersion.create(template=form, version=1, fields=FORM_FIELDS)
    device = make_device(org, f"{slug}-field")
    started = utc_now() - timedelta(minutes=10)
    session = Session.create(
        org=org,
        team=team,
        title=f"{slug} practice",
        status=SessionStatus.LIVE,
        started_at=started,
        form_template=form,
        form_version=version,
        max_participants=20,
        host=user_ids[Role.HOST],
    )
    SessionTransition.create(session=session, to_status=SessionStatus.LIVE, occurred_at=started)
    SessionDevice.create(session=session, device=device)
    draft = Session.create(org=org, team=team, title=f"{slug} draft", status=SessionStatus.DRAFT)
    log = make_log(
        org,
        session,
        origin=LogOrigin.API,
        source="coach",
        type="entry",
        form_version=version,
        author=user_ids[Role.COACH],
        data={"player": str(player.id), "action": "shot"},
    )
    clip = make_clip(org, session, device.id)
    event = DetectionEventRecord.create(
        id=new_id(),
        org=org,
        device=device,
        session=session,
        camera_id="cam1",
        occurred_at=utc_now() - timedelta(minutes=5),
        kind="enter",
        label="person",
    )
    command = Command.create(
        org=org,
        device=device,
        session=session,
        type="trigger_clip",
        body={"type": "trigger_clip"},
        state=CommandState.SENT,
        expires_at=utc_now() + timedelta(minutes=1),
    )
    participant = SessionParticipant.create(session=session, user=user_ids[Role.GUEST])
    Session.update(participant_count=1).where(Session.id == session.id).execute()
    series = _weekly_series(db, org, user_ids) if scheduling else None
    webhook = _webhook(org) if scheduling else None
    slot, override, booking = _availability(db, org, user_ids) if scheduling else (None, None, None)
    delivery = (
        OutboxMessage.get_or_none(OutboxMessage.target == str(webhook.id)) if webhook else None
    )
    feed = (
        CalendarFeed.create(
            org=org,
            team=team,
            name="Team calendar",
            token_hash=f"{slug:0<64}"[:64],
            token_prefix="cal_test",
            created_by=user_ids[Role.COACH],
        )
        if scheduling
        else None
    )
    playlist = Playlist.create(org=org, title=f"{slug} best bits", created_by=user_ids[Role.COACH])
    playlist_item = PlaylistItem.create(playlist=playlist, clip=clip, position=0)
    share_link = ShareLink.create(
        org=org, kind=ShareKind.CLIP, clip=clip, expires_at=utc_now() + timedelta(days=1)
    )
    return World(
        org=org,
        tokens=tokens,
        user_ids=user_ids,
        membership_ids=membership_ids,
        token_ids=token_ids,
        team=team,
        player=player,
        form=form,
        session=Session.get_by_id(session.id),
        draft=draft,
        device_id=device.id,
        log=log,
        clip=clip,
        event=event,
        command=command,
        participant=participant,
        playlist=playlist,
        playlist_item=playlist_item,
        share_link=share_link,
        series=series,
        slot=slot,
        override=override,
        booking=booking,
        webhook=webhook,
        delivery=delivery,
        feed=feed,
    )


def _webhook(org: Organisation) -> WebhookSubscription:
    subscription: WebhookSubscription = WebhookSubscription.create(
        org=org,
        url="http://127.0.0.1:9/hooks",
        secret="whsec_dGVzdHRlc3R0ZXN0dGVzdA==",
        event_types=["booking.created"],
    )
    return subscription


def _availability(
    db: Database, org: Organisation, user_ids: dict[Role, UUID]
) -> tuple[MeetingSlot, AvailabilityOverride, Booking]:
    """The coach's Friday slot, a blackout day, and the guest's booking next Friday."""
    from datetime import UTC, time

    from cloud.api.access.scope import OrgScope
    from cloud.api.schemas.availability import OverrideCreate, SlotCreate
    from cloud.api.schemas.bookings import BookingCreate
    from cloud.api.services.availability import create_override, create_slot
    from cloud.api.services.bookings import create_booking
    from cloud.models import OverrideKind, User

    coach = OrgScope(org=org, user=User.get_by_id(user_ids[Role.COACH]), role=Role.COACH)
    guest = OrgScope(org=org, user=User.get_by_id(user_ids[Role.GUEST]), role=Role.GUEST)
    slot = create_slot(
        db,
        scope=coach,
        data=SlotCreate(
            day_of_week=4,
            start_time=time(9),
            end_time=time(17),
            duration_minutes=60,
            timezone="UTC",
            price_minor=1500,
            currency="GBP",
        ),
    )
    today = utc_now().date()
    friday = today + timedelta(days=(4 - today.weekday()) % 7 + 7)
    override = create_override(
        db,
        scope=coach,
        data=OverrideCreate(
            date=friday + timedelta(days=7), kind=OverrideKind.BLACKOUT, timezone="UTC"
        ),
    )
    booking = create_booking(
        db,
        scope=guest,
        secret=b"dev-secret-change-me",
        data=BookingCreate(slot_id=slot.id, start=datetime.combine(friday, time(10), UTC)),
    ).booking
    return slot, override, booking


def _weekly_series(db: Database, org: Organisation, user_ids: dict[Role, UUID]) -> SessionSeries:
    """A weekly practice hosted by the host, starting next year (four occurrences)."""
    from cloud.api.access.scope import OrgScope
    from cloud.api.schemas.series import SeriesCreate
    from cloud.api.services.series import create_series
    from cloud.models import User

    coach = User.get_by_id(user_ids[Role.COACH])
    data = SeriesCreate(
        title="Weekly practice",
        host_id=user_ids[Role.HOST],
        start=datetime(utc_now().year + 1, 6, 7, 18, 0),
        timezone="Europe/London",
        duration_minutes=60,
        rule=RuleIn(freq=Frequency.WEEKLY, count=4),
    )
    scope = OrgScope(org=org, user=coach, role=Role.COACH)
    return create_series(db, scope=scope, data=data).series
