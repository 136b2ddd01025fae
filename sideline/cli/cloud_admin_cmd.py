"""``sideline cloud org|team|user|member|token``: account administration.

The same service functions as the API's, run directly against the database
(no token needed: whoever can run this can read the database URL anyway).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sideline.cli.errors import user_errors

if TYPE_CHECKING:
    from peewee import Database

    from cloud.models import Organisation, User

__all__ = ["register_admin_commands"]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Cloud TOML config (SIDELINE_CLOUD_* overrides it)."),
]
DatabaseOption = Annotated[
    str | None, typer.Option("--database-url", help="Overrides the config's database_url.")
]
OrgOption = Annotated[str, typer.Option("--org", help="The organisation's slug.")]

org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
team_app = typer.Typer(help="Teams of an organisation.", no_args_is_help=True)
user_app = typer.Typer(help="Users (people who sign in).", no_args_is_help=True)
member_app = typer.Typer(
    help="Memberships: a user's role in an organisation.", no_args_is_help=True
)
token_app = typer.Typer(help="API tokens (shown once).", no_args_is_help=True)


class AdminError(RuntimeError):
    """Something the person running the command can fix; the message says what."""


@contextmanager
def _database(config: Path | None, database_url: str | None) -> Iterator[Database]:
    from peewee import OperationalError

    from cloud.config import load_cloud_config
    from cloud.db import DatabaseUrlError
    from cloud.errors import DomainError
    from cloud.migrations import SchemaBehind, SchemaTooNew, open_current_database

    # DomainError: the services' refusals (slug taken, already a member, ...).
    with user_errors(
        DatabaseUrlError, SchemaBehind, SchemaTooNew, OperationalError, AdminError, DomainError
    ):
        url = database_url or load_cloud_config(config).database_url
        database = open_current_database(url)
        try:
            yield database
        finally:
            database.close()


def _org(slug: str) -> Organisation:
    from cloud.models import Organisation

    org = Organisation.get_or_none(Organisation.slug == slug)
    if org is None:
        raise AdminError(f"no organisation {slug!r}; create it with `sideline cloud org create`")
    return org


def _user(email: str) -> User:
    from cloud.models import User

    user = User.get_or_none(User.email == email.strip().lower())
    if user is None:
        raise AdminError(f"no user {email!r}; create it with `sideline cloud user create`")
    return user


@org_app.command("create")
def create_org(
    slug: Annotated[str, typer.Argument(help="Topic level and S3 key part; never renamed.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create an organisation."""
    from cloud.api.services.accounts import create_organisation
    from protocol.ids import is_valid_segment

    if not is_valid_segment(slug):
        raise typer.BadParameter("1-64 of A-Z a-z 0-9 _ . -, starting with a letter or digit")
    with _database(config, database_url) as db:
        org = create_organisation(db, slug=slug, name=name)
    typer.echo(f"organisation {org.slug} ({org.id})")


@team_app.command("create")
def create_team(
    name: str,
    org: OrgOption,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a team in an organisation."""
    from peewee import IntegrityError

    from cloud.models import Team

    with _database(config, database_url) as db:
        try:
            with db.atomic():
                team = Team.create(org=_org(org), name=name)
        except IntegrityError:
            raise AdminError(f"{org} already has a team called {name!r}") from None
    typer.echo(f"team {team.name} ({team.id}) in {org}")


@user_app.command("create")
def create_user(
    email: str,
    name: Annotated[str, typer.Option(help="Display name.")],
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a user (or show the existing one with that email)."""
    from cloud.api.services.accounts import find_or_create_user

    with _database(config, database_url) as db:
        user = find_or_create_user(db, email=email, name=name)
    typer.echo(f"user {user.email} ({user.id})")


@member_app.command("add")
def add_member(
    org: OrgOption,
    email: Annotated[str, typer.Option(help="The user's email.")],
    role: Annotated[str, typer.Option(help="owner, admin, coach, host, member or guest.")],
    name: Annotated[str | None, typer.Option(help="Creates the user if the email is new.")] = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Give a user a role in an organisation."""
    from cloud.api.services.accounts import add_membership, find_or_create_user
    from cloud.models import Role

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(f"one of {', '.join(r.value for r in Role)}") from None
    with _database(config, database_url) as db:
        user = find_or_create_user(db, email=email, name=name) if name else _user(email)
        membership = add_membership(db, org=_org(org), user=user, role=chosen)
    typer.echo(f"{user.email} is {membership.role} of {org}")


@token_app.command("create")
def create_token(
    org: OrgOption,
    email: Annotated[str, typer.Option(help="The member the token acts as.")],
    name: Annotated[str, typer.Option(help="What it is for, e.g. 'phone'.")] = "cli",
    expires_days: Annotated[int | None, typer.Option(min=1, max=3650)] = None,
    config: ConfigOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create an API token and print it (the only time it is shown) on stdout."""
    from cloud.api.services.accounts import issue_token
    from cloud.models import Membership

    with _database(config, database_url) as db:
        organisation, user = _org(org), _user(email)
        if (
            Membership.get_or_none((Membership.org == organisation) & (Membership.user == user))
            is None
        ):
            raise AdminError(f"{email} is not a member of {org}; `sideline cloud member add` first")
        expires = timedelta(days=expires_days) if expires_days else None
        row, minted = issue_token(db, org=organisation, user=user, name=name, expires_in=expires)
    typer.echo(f"token {row.token_prefix}… ({row.id}) for {user.email} in {org}", err=True)
    typer.echo(minted.secret)


def register_admin_commands(app: typer.Typer) -> None:
    app.add_typer(org_app, name="org")
    app.add_typer(team_app, name="team")
    app.add_typer(user_app, name="user")
    app.add_typer(member_app, name="member")
    app.add_typer(token_app, name="token")
