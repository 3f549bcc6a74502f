"""`mokg keys`: API keys of the web service."""

from __future__ import annotations

import click
from rich.table import Table

from mokg.apps.cli.output import console, out


@click.group()
def keys() -> None:
    """API keys of the web service (stored hashed in the graph; scopes `lookup` and `analyst`)."""


@keys.command("create")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(["lookup", "analyst"]),
    multiple=True,
    required=True,
    help="lookup: /v1/lookalike, users, items, entities; analyst: /v1/cypher (repeatable).",
)
@click.option("--name", default="", help="Who or what the key is for.")
def keys_create(scopes: tuple[str, ...], name: str) -> None:
    """Create a key and print its token once (only a hash is stored)."""
    from mokg.apikeys import create_key
    from mokg.graph import Graph

    with Graph() as g:
        new = create_key(g, scopes, name=name)
    console.print(
        f"key {new.key.id} ({', '.join(new.key.scopes)}): the token below is shown once, store it now"
    )
    out.print(new.token)


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (servers honour it within their 30 s key cache)."""
    from mokg.apikeys import ApiKeyError, revoke_key
    from mokg.graph import Graph

    try:
        with Graph() as g:
            revoke_key(g, key_id)
    except ApiKeyError as e:
        raise click.ClickException(str(e)) from e
    out.print(f"revoked {key_id}")


@keys.command("list")
def keys_list() -> None:
    """List keys: id, scopes, name, created, revoked (never the tokens)."""
    from mokg.apikeys import list_keys
    from mokg.graph import Graph

    with Graph() as g:
        rows = list_keys(g)
    table = Table("id", "scopes", "name", "created", "revoked")
    for k in rows:
        table.add_row(k.id, ",".join(k.scopes), k.name, k.created_at, "yes" if k.revoked else "")
    out.print(table)
