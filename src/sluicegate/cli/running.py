"""Commands that go through the running gateway's admin API: `cache purge` (its memory holds
cached answers too), `spend`, `routes …` and `keys …`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
import yaml
from rich.table import Table

from sluicegate.cli import budgets
from sluicegate.cli.common import (
    AccountOption,
    GatewayOption,
    TokenOption,
    UrlOption,
    app,
    cache_app,
    call,
    console,
    keys_app,
    print_error,
    remote_gateway,
    routes_app,
    time_text,
)
from sluicegate.gateway import DEFAULT_ACCOUNT
from sluicegate.remote import RemoteError


@cache_app.command("purge")
def cache_purge(
    gateway: Annotated[str, typer.Option(help="the gateway whose cache to purge")] = "default",
    key: Annotated[
        str | None, typer.Option(help="purge only the entries stored under this cf-aig-cache-key")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Purge cached answers through the running gateway's admin API (its memory holds them too)."""
    remote = remote_gateway(url, token, "purge_all")
    path = f"/api/v1/accounts/{quote(account, safe='')}/gateways/{quote(gateway, safe='')}/cache"
    try:
        answer = remote.call("DELETE", path, {"key": key} if key is not None else None)
    except RemoteError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    console.print(f"purged {answer['purged']} cached answer(s) from gateway {gateway}", highlight=False)


@app.command()
def spend(
    by: Annotated[str, typer.Option(help="token, user, team or model")] = "token",
    since: Annotated[str, typer.Option(help="a span back from now (7d, 24h) or a time")] = "30d",
    until: Annotated[str | None, typer.Option(help="the end of the period (default: now)")] = None,
    gateway: Annotated[str | None, typer.Option(help="only this gateway")] = None,
    key: Annotated[
        str | None, typer.Option(help="only this spender (a token id, user, team or model)")
    ] = None,
    limit: Annotated[int, typer.Option(help="how many of the top spenders")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON answer")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Show the top spenders per token, user, team or model, and what is left of their budgets."""
    remote = remote_gateway(url, token, "read")
    query = {"by": by, "since": since, "until": until, "gateway": gateway, "key": key, "limit": str(limit)}
    try:
        answer = remote.call(
            "GET",
            f"/api/v1/accounts/{quote(account, safe='')}/spend",
            {name: value for name, value in query.items() if value is not None},
        )
    except RemoteError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc
    if as_json:  # ASCII: a C1 control or bidi override in a user or model stays an escape
        console.print_json(data=answer, ensure_ascii=True)
        return
    console.print(budgets.spend_table(answer))
    totals = answer["totals"]
    cost = budgets.money(totals["cost_usd"])
    console.print(
        f"{answer['spenders']} spender(s), {totals['requests']} request(s), {cost}"
        f" since {time_text(answer['from'])} UTC",
        highlight=False,
    )
    for budget in answer["budgets"]:
        console.print(budgets.budget_text(budget), highlight=False, markup=False)


def _routes_path(account: str, gateway: str, *parts: str) -> str:
    tail = "".join(f"/{quote(part, safe='')}" for part in parts)
    return f"/api/v1/accounts/{quote(account, safe='')}/gateways/{quote(gateway, safe='')}/routes{tail}"


@routes_app.command("set")
def routes_set(
    name: str,
    file: Annotated[Path, typer.Argument(help="the route's node, as JSON or YAML (.yaml / .yml)")],
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Set route NAME from FILE, as its next version (a bad route is refused, naming the path)."""
    try:
        text = file.read_text()
        node = yaml.safe_load(text) if file.suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print_error(f"cannot read {file}: {exc}")
        raise typer.Exit(2) from exc
    remote = remote_gateway(url, token, "admin")
    answer = call(remote, "PUT", _routes_path(account, gateway, name), node)
    console.print(f"route {name} is now version {answer['version']} in gateway {gateway}", highlight=False)


@routes_app.command("get")
def routes_get(
    name: Annotated[str | None, typer.Argument(help="one route (default: every route)")] = None,
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Print a route (or every route) as JSON: name, version, route."""
    remote = remote_gateway(url, token, "read")
    answer = call(remote, "GET", _routes_path(account, gateway, *([name] if name else [])))
    console.print_json(json.dumps(answer if name else answer["result"]))


@routes_app.command("versions")
def routes_versions(
    name: str,
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """List the versions of route NAME, newest first."""
    remote = remote_gateway(url, token, "read")
    versions = call(remote, "GET", _routes_path(account, gateway, name, "versions"))["result"]
    table = Table("version", "saved", "by", "route")
    for v in versions:
        mark = " (current)" if v["current"] else ""
        route = "(removed)" if v["removed"] else json.dumps(v["route"])
        table.add_row(f"{v['version']}{mark}", time_text(v["ts"]), v["actor"], route)
    console.print(table)


@routes_app.command("restore")
def routes_restore(
    name: str,
    version: int,
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Save VERSION of route NAME again, as its newest version."""
    remote = remote_gateway(url, token, "admin")
    answer = call(remote, "POST", _routes_path(account, gateway, name, "versions", str(version), "restore"))
    console.print(
        f"route {name} is now version {answer['version']} (the route of version {version})", highlight=False
    )


def _keys_path(account: str, gateway: str, *parts: str) -> str:
    tail = "".join(f"/{quote(part, safe='')}" for part in parts)
    return (
        f"/api/v1/accounts/{quote(account, safe='')}/gateways/{quote(gateway, safe='')}/provider-keys{tail}"
    )


@keys_app.command("list")
def keys_list(
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """List the gateway's stored keys: provider, name, weight, state, fingerprint (never a key)."""
    keys = call(remote_gateway(url, token, "admin"), "GET", _keys_path(account, gateway))["result"]
    table = Table("provider", "name", "weight", "state", "fingerprint", "stored")
    for key in keys:
        state = key["status"] + (f" until {time_text(key['until'])}" if key["until"] else "")
        state += f" ({key['reason']})" if key["reason"] else ""
        table.add_row(
            key["provider"],
            key["name"],
            f"{key['weight']:g}",
            state,
            key["fingerprint"],
            time_text(key["created_at"]),
        )
    console.print(table)


@keys_app.command("set")
def keys_set(
    provider: str,
    name: Annotated[str, typer.Argument(help="the key's name in the provider's pool")] = "default",
    weight: Annotated[
        float | None, typer.Option(help="its share of requests (default: kept, else 1)", show_default=False)
    ] = None,
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Store a key for PROVIDER as NAME, read from stdin or a hidden prompt (never an argument:
    shells keep those in their history). Storing again replaces the key and enables it."""
    secret = sys.stdin.readline().strip() if not sys.stdin.isatty() else typer.prompt("Key", hide_input=True)
    if not secret:
        print_error("no key given: pipe it in (`… keys set openai main < key.txt`) or type it at the prompt")
        raise typer.Exit(2)
    body: dict[str, Any] = {"key": secret} | ({"weight": weight} if weight is not None else {})
    stored = call(
        remote_gateway(url, token, "admin"), "PUT", _keys_path(account, gateway, provider, name), body
    )
    console.print(
        f"stored {provider} key {stored['name']} (weight {stored['weight']:g}, {stored['fingerprint']})"
        f" in gateway {gateway}",
        highlight=False,
    )


@keys_app.command("update")
def keys_update(
    provider: str,
    name: str,
    weight: Annotated[float | None, typer.Option(help="a new weight", show_default=False)] = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="back in use, or out of use", show_default=False)
    ] = None,
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Change key NAME's weight, or enable it again (after a 401 disabled it) or disable it."""
    body = {k: v for k, v in {"weight": weight, "enabled": enable}.items() if v is not None}
    if not body:
        print_error("say what changes: --weight N, --enable or --disable")
        raise typer.Exit(2)
    key = call(
        remote_gateway(url, token, "admin"), "PATCH", _keys_path(account, gateway, provider, name), body
    )
    console.print(f"{provider} key {name}: weight {key['weight']:g}, {key['status']}", highlight=False)


@keys_app.command("remove")
def keys_remove(
    provider: str,
    name: Annotated[str, typer.Argument(help="the key's name in the provider's pool")] = "default",
    gateway: GatewayOption = "default",
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Remove stored key NAME of PROVIDER."""
    call(remote_gateway(url, token, "admin"), "DELETE", _keys_path(account, gateway, provider, name))
    console.print(f"removed {provider} key {name} from gateway {gateway}", highlight=False)
