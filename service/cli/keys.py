"""``bakeoff keys``: create, list and revoke API keys (the database is migrated first).

Examples
--------
The first admin key of a fresh installation::

    bakeoff keys create --role admin --name alice

A key for a vendor (it sees only that vendor's tasks and posts only its labels)::

    bakeoff keys create --role vendor --vendor "Acme Labeling" --name acme-bot

The plaintext key is printed once; only its sha256 is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from service.cli._app import app
from service.cli._choices import Role
from service.cli._db import current_database, database_epilog, fail, fail_domain, open_session

if TYPE_CHECKING:  # imported inside the commands: `bakeoff --help` must not load them
    from sqlmodel import Session

__all__ = ["keys_app", "create_key", "list_keys", "revoke_key"]

keys_app = typer.Typer(
    help="Create, list and revoke API keys.",
    epilog=database_epilog(),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(keys_app, name="keys")


def _vendor_id(session: Session, vendor: str | None) -> int | None:
    from sqlmodel import select

    from service.models import Vendor

    if vendor is None:
        return None
    found = session.exec(select(Vendor).where(Vendor.name == vendor)).first()
    if found is None and vendor.isdigit():
        found = session.get(Vendor, int(vendor))
    if found is None:
        raise fail(f"no vendor named {vendor!r} (give its name or id)")
    return found.id


@keys_app.command("create")
def create_key(
    role: Annotated[Role, typer.Option(help="admin, lead, qa, viewer or vendor.")],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")] = "cli",
    vendor: Annotated[
        str | None, typer.Option(help="Vendor name or id (required for --role vendor).")
    ] = None,
    project: Annotated[int | None, typer.Option(help="Limit the key to one project id.")] = None,
) -> None:
    """Create an API key and print it (shown once)."""
    from service.domain import api_keys
    from service.domain.errors import DomainError
    from service.models import ApiKeyCreate

    with open_session() as session:
        try:
            created = api_keys.create_api_key(
                session=session,
                data=ApiKeyCreate(
                    name=name,
                    role=role,
                    vendor_id=_vendor_id(session, vendor),
                    project_id=project,
                ),
            )
        except DomainError as exc:
            raise fail_domain(exc) from exc
    typer.echo(created.key)
    typer.echo(
        f"key {created.id} ({created.role}) created in {current_database()}; "
        "it is not shown again.",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option(help="Also list revoked keys.")] = False,
) -> None:
    """List API keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from service.domain import api_keys

    with open_session() as session:
        rows, _ = api_keys.list_api_keys(
            session=session, limit=100_000, include_revoked=include_revoked
        )
    table = Table(
        "id",
        "name",
        "role",
        "vendor",
        "project",
        "prefix",
        "created",
        "revoked",
        title=f"API keys in {current_database()}",
    )
    for k in rows:
        table.add_row(
            str(k.id),
            k.name,
            k.role,
            str(k.vendor_id or ""),
            str(k.project_id or ""),
            k.prefix + "…",
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke_key(
    key_id: Annotated[int, typer.Argument(help="The key's id (see keys list).")],
) -> None:
    """Revoke an API key; it stops working at once."""
    from service.domain import api_keys
    from service.domain.errors import DomainError

    with open_session() as session:
        try:
            revoked = api_keys.revoke_api_key(session=session, key_id=key_id)
        except DomainError as exc:
            raise fail_domain(exc) from exc
    typer.echo(f"key {revoked.id} revoked in {current_database()}")
