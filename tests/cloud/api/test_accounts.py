"""Accounts: tokens (hashed, shown once, revocable, expiring), organisations,
memberships and their role rules, teams and rosters."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from peewee import Database

from cloud.api.access.tokens import hash_token
from cloud.api.services.accounts import issue_token
from cloud.models import ApiToken, Membership, Role, User, utc_now
from tests.cloud.api.world import World, auth, build_world


def _base(world: World) -> str:
    return f"/api/v1/orgs/{world.slug}"


def test_me_names_the_user_org_and_role(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    body = client.get("/api/v1/me", headers=auth(world.tokens[Role.COACH])).json()
    assert body["user"]["email"] == "coach@alpha.example"
    assert body["organisation"]["slug"] == "alpha"
    assert body["role"] == "coach"
    assert body["token_id"] == str(world.token_ids[Role.COACH])


def test_a_token_is_shown_once_and_only_its_hash_is_stored(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    created = client.post(
        f"{_base(world)}/tokens", headers=auth(world.tokens[Role.MEMBER]), json={"name": "phone"}
    )
    assert created.status_code == 201
    secret = created.json()["token"]
    row = ApiToken.get_by_id(created.json()["id"])
    assert row.token_hash == hash_token(secret) and secret not in row.token_hash
    assert secret.startswith(row.token_prefix)
    listed = client.get(f"{_base(world)}/tokens", headers=auth(secret)).json()
    assert secret not in str(listed)
    assert {t["name"] for t in listed["data"]} == {"member", "phone"}  # only the member's own
    all_tokens = client.get(f"{_base(world)}/tokens", headers=auth(world.tokens[Role.ADMIN])).json()
    assert all_tokens["count"] == len(Role) + 1  # admins see everyone's


def test_revoked_and_expired_tokens_are_refused(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    member = auth(world.tokens[Role.MEMBER])
    revoked = client.delete(f"{_base(world)}/tokens/{world.token_ids[Role.MEMBER]}", headers=member)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    refused = client.get("/api/v1/me", headers=member)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    user = User.get(User.email == "guest@alpha.example")
    _, minted = issue_token(
        db,
        org=world.org,
        user=user,
        name="old",
        expires_in=timedelta(days=1),
        now=utc_now() - timedelta(days=2),
    )
    expired = client.get("/api/v1/me", headers=auth(minted.secret))
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]


def test_another_members_token_is_not_found_for_a_non_admin(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    other = world.token_ids[Role.COACH]
    response = client.delete(
        f"{_base(world)}/tokens/{other}", headers=auth(world.tokens[Role.MEMBER])
    )
    assert response.status_code == 404
    minted_for_other = client.post(
        f"{_base(world)}/tokens",
        headers=auth(world.tokens[Role.MEMBER]),
        json={"name": "x", "user_id": str(world.user_ids[Role.COACH])},
    )
    assert minted_for_other.status_code == 404
    by_admin = client.post(
        f"{_base(world)}/tokens",
        headers=auth(world.tokens[Role.ADMIN]),
        json={"name": "for coach", "user_id": str(world.user_ids[Role.COACH])},
    )
    assert by_admin.status_code == 201
    me = client.get("/api/v1/me", headers=auth(by_admin.json()["token"])).json()
    assert me["user"]["id"] == str(world.user_ids[Role.COACH])


def test_creating_an_organisation_makes_the_caller_its_owner(
    db: Database, client: TestClient
) -> None:
    world = build_world(db, "alpha")
    created = client.post(
        "/api/v1/orgs",
        headers=auth(world.tokens[Role.GUEST]),
        json={"slug": "charlie", "name": "Charlie"},
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]["token"]
    me = client.get("/api/v1/me", headers=auth(token)).json()
    assert (me["organisation"]["slug"], me["role"]) == ("charlie", "owner")
    # The old token still acts in its own organisation only.
    assert (
        client.get("/api/v1/orgs/charlie", headers=auth(world.tokens[Role.GUEST])).status_code
        == 404
    )
    taken = client.post(
        "/api/v1/orgs", headers=auth(token), json={"slug": "charlie", "name": "Again"}
    )
    assert taken.status_code == 409
    assert taken.json()["error"]["fields"][0]["path"] == "body.slug"
    bad = client.post("/api/v1/orgs", headers=auth(token), json={"slug": "no/slash", "name": "X"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["path"] == "body.slug"


def test_membership_role_rules(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    admin, owner = auth(world.tokens[Role.ADMIN]), auth(world.tokens[Role.OWNER])
    members = f"{_base(world)}/members"
    added = client.post(
        members, headers=admin, json={"email": "New@Alpha.example", "name": "New", "role": "coach"}
    )
    assert added.status_code == 201 and added.json()["user"]["email"] == "new@alpha.example"
    again = client.post(
        members, headers=admin, json={"email": "new@alpha.example", "name": "N", "role": "coach"}
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_member"
    no_owner = client.post(
        members, headers=admin, json={"email": "o@alpha.example", "name": "O", "role": "owner"}
    )
    assert no_owner.status_code == 403
    owner_membership = world.membership_ids[Role.OWNER]
    assert (
        client.patch(
            f"{members}/{owner_membership}", headers=admin, json={"role": "member"}
        ).status_code
        == 403
    )
    last = client.patch(f"{members}/{owner_membership}", headers=owner, json={"role": "admin"})
    assert last.status_code == 409 and last.json()["error"]["code"] == "last_owner"
    assert client.delete(f"{members}/{owner_membership}", headers=owner).status_code == 409
    # Removing a member revokes their tokens for the organisation.
    coach_membership = world.membership_ids[Role.COACH]
    assert client.delete(f"{members}/{coach_membership}", headers=admin).status_code == 204
    assert Membership.get_or_none(Membership.id == coach_membership) is None
    assert client.get("/api/v1/me", headers=auth(world.tokens[Role.COACH])).status_code == 401


def test_teams_and_rosters(db: Database, client: TestClient) -> None:
    world = build_world(db, "alpha")
    admin, coach = auth(world.tokens[Role.ADMIN]), auth(world.tokens[Role.COACH])
    teams = f"{_base(world)}/teams"
    created = client.post(teams, headers=admin, json={"name": "U12"})
    assert created.status_code == 201
    duplicate = client.post(teams, headers=admin, json={"name": "U12"})
    assert (
        duplicate.status_code == 409
        and duplicate.json()["error"]["fields"][0]["path"] == "body.name"
    )
    roster = f"{teams}/{created.json()['id']}/roster"
    player = client.post(
        roster, headers=coach, json={"display_name": "Robin", "number": "07", "position": "GK"}
    )
    assert player.status_code == 201 and player.json()["number"] == "07"
    foreign_user = build_world(db, "bravo").user_ids[Role.MEMBER]
    linked = client.post(
        roster, headers=coach, json={"display_name": "X", "user_id": str(foreign_user)}
    )
    assert (
        linked.status_code == 404 and linked.json()["error"]["fields"][0]["path"] == "body.user_id"
    )
    benched = client.patch(f"{roster}/{player.json()['id']}", headers=coach, json={"active": False})
    assert benched.json()["active"] is False
    assert client.get(roster, headers=coach).json()["count"] == 0
    assert client.get(f"{roster}?include_inactive=true", headers=coach).json()["count"] == 1
    assert client.delete(f"{teams}/{created.json()['id']}", headers=admin).status_code == 204
    names = [t["name"] for t in client.get(teams, headers=coach).json()["data"]]
    assert "U12" not in names
