"""`custom-providers …`: an account's custom providers, through the running gateway's admin API."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import typer
from rich.table import Column, Table

from sluicegate.cli.common import (
    AccountOption,
    TokenOption,
    UrlOption,
    call,
    console,
    custom_app,
    print_error,
    remote_gateway,
)
from sluicegate.gateway import DEFAULT_ACCOUNT, slugify


def _custom_path(account: str, *parts: str) -> str:
    tail = "".join(f"/{quote(part, safe='')}" for part in parts)
    return f"/api/v1/accounts/{quote(account, safe='')}/custom-providers{tail}"


@custom_app.command("list")
def custom_list(
    url: UrlOption = None, token: TokenOption = None, account: AccountOption = DEFAULT_ACCOUNT
) -> None:
    """List the account's custom providers (their headers by name only)."""
    providers = call(remote_gateway(url, token, "read"), "GET", _custom_path(account))["result"]
    table = Table(
        Column("provider", no_wrap=True), "name", Column("base URL", overflow="fold"), "enabled", "headers"
    )
    for p in providers:
        table.add_row(p["provider"], p["name"], p["base_url"], str(p["enable"]), ", ".join(p["header_names"]))
    console.print(table)


@custom_app.command("create")
def custom_create(
    name: str,
    base_url: Annotated[str, typer.Option("--base-url", help="https://… of an OpenAI-compatible server")],
    slug: Annotated[str | None, typer.Option(help="reached as custom-SLUG (default: from NAME)")] = None,
    header: Annotated[
        list[str] | None, typer.Option(help="NAME: VALUE sent upstream with every request (repeatable)")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Create a custom provider; its headers are sealed and never shown again."""
    headers = {}
    for line in header or []:
        key, colon, value = line.partition(":")
        if not colon:
            print_error(f"--header takes NAME: VALUE, got one without ':' ({key.strip()!r})")
            raise typer.Exit(2)
        headers[key.strip()] = value.strip()
    body = {"name": name, "slug": slug or slugify(name), "base_url": base_url, "headers": headers}
    created = call(remote_gateway(url, token, "admin"), "POST", _custom_path(account), body)
    console.print(f"created {created['provider']} ({created['id']}) in account {account}", highlight=False)


@custom_app.command("delete")
def custom_delete(
    provider: Annotated[str, typer.Argument(help="its id or slug")],
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Delete a custom provider."""
    call(remote_gateway(url, token, "admin"), "DELETE", _custom_path(account, provider))
    console.print(f"deleted custom provider {provider}", highlight=False)
