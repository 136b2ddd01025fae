"""Hostile input on tagging's edges: whatever arrives, a precise 4xx (or the work done),
never a 500, never a crash: share tokens, clip settings, range and re-trim bodies."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from peewee import Database

from cloud.api.access.sharing import ShareSigner
from cloud.api.config import TaggingConfig
from cloud.api.forms.clips import ClipSettings, check_clip_settings, timing_for
from cloud.api.forms.fields import FormFields
from cloud.errors import NotFound
from cloud.models import Role, utc_now
from protocol import new_id
from tests.cloud.api.world import FORM_FIELDS, auth, build_world

FIELDS = FormFields.model_validate({"fields": FORM_FIELDS}).fields
JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(10**6), max_value=10**6),
)


def test_any_token_is_not_found_or_a_link(db: Database) -> None:
    signer = ShareSigner(db)
    genuine = signer.token(new_id(), utc_now().replace(year=utc_now().year + 1))

    @given(st.one_of(st.text(max_size=120), st.just(genuine[:-1]), st.just(genuine + "=")))
    @settings(max_examples=200, deadline=None)
    def check(token: str) -> None:
        try:
            signer.read(token, now=utc_now())
        except NotFound as exc:
            assert "share link" in exc.message
        else:
            assert token == genuine  # nothing else passes the signature

    check()


@given(lead=NUMBER, lag=NUMBER, by_field=st.sampled_from([None, "action", "minute", "nope"]))
@settings(max_examples=200, deadline=None)
def test_clip_settings_are_checked_field_by_field_and_never_crash(
    lead: float, lag: float, by_field: str | None
) -> None:
    limits = TaggingConfig()
    try:
        settings_ = ClipSettings(lead_s=lead, lag_s=lag, by_field=by_field)
    except ValueError:
        assert lead < 0 or lag < 0 or lead > 3600 or lag > 600
        return
    problems = check_clip_settings(settings_, FIELDS, limits, path="body.clip")
    assert all(p.path.startswith("body.clip.") and p.message for p in problems)
    if not problems:
        timing = timing_for(settings_, {"action": "shot"})
        assert timing is not None and timing.lead_s + timing.lag_s <= limits.max_range_s


def test_range_and_retrim_bodies_get_a_4xx_or_are_done(db: Database, client: TestClient) -> None:
    world = build_world(db, "fuzz")
    coach = auth(world.tokens[Role.COACH])
    base = f"/api/v1/orgs/{world.slug}/sessions/{world.session.id}"
    body = st.dictionaries(
        st.sampled_from(["start", "end", "last_s", "lead_s", "lag_s", "camera_id", "device_id"]),
        JSON | st.sampled_from(["2026-01-01T00:00:00Z", "now", "-5", "99999999"]) | NUMBER,
        max_size=4,
    )

    @given(body=body, where=st.sampled_from(["/clips/range", f"/clips/{world.clip.id}/retrim"]))
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    def check(body: dict[str, Any], where: str) -> None:
        answer = client.post(base + where, headers=coach, json=body)
        assert answer.status_code in (202, 404, 409, 422), (body, answer.text)
        if answer.status_code == 422:
            fields = answer.json()["error"]["fields"]
            assert fields and all(f["path"].startswith("body") for f in fields), answer.text

    check()
