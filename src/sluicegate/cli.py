"""The command line: `sluicegate serve`, `gateway ...`, `token ...`, `logs ...`, `cache ...`.

Management commands open the configured database directly, so they work with or without a running
server; a running server sees their changes within a second. Each says on stderr which database it
uses, and only `serve` and `migrate` create one: a command run from another folder than the server's
must not quietly start a second, empty database there. `cache purge` talks to the running server
(its memory holds cached answers too): see `remote.py` for how it finds the server and its token.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from sluicegate import cli_budgets, logtransfer
from sluicegate.config import ConfigError, Settings, load_settings
from sluicegate.endpoints.admin import MAX_PAGE, log_query
from sluicegate.errors import BadRequest, GatewayError, NotFound
from sluicegate.gateway import DEFAULT_ACCOUNT, GatewaySettings, is_slug, slugify
from sluicegate.hints import did_you_mean, no_gateway, unknown_gateway
from sluicegate.providers import registry
from sluicegate.remote import Remote, RemoteError, find_gateway, forget_address, local_url, record_address
from sluicegate.storage import (
    Database,
    LogQuery,
    LogRecord,
    create_database,
    describe_database,
    sqlite_path,
)
from sluicegate.storage.base import AuditEntry
from sluicegate.tokens import Scope, Token, ensure_admin_token, hash_secret, new_token

T = TypeVar("T")
app = typer.Typer(help="Sluicegate: a self-hosted AI gateway.", no_args_is_help=True, add_completion=False)
gateway_app = typer.Typer(help="Manage gateways.", no_args_is_help=True)
app.add_typer(gateway_app, name="gateway")
token_app = typer.Typer(help="Manage gateway tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")
cache_app = typer.Typer(help="Manage the response cache of a running gateway.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
routes_app = typer.Typer(
    help="Manage the dynamic routes of a running gateway (docs/routing.md).", no_args_is_help=True
)
app.add_typer(routes_app, name="routes")
keys_app = typer.Typer(
    help="Manage the stored provider keys of a running gateway: named, weighted key pools (docs/access.md).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
custom_app = typer.Typer(
    help="Manage an account's custom providers, reached as custom-{slug} (docs/providers.md).",
    no_args_is_help=True,
)
app.add_typer(custom_app, name="custom-providers")
logs_app = typer.Typer()
app.add_typer(logs_app, name="logs")
console = Console()
errors = Console(stderr=True)  # what is not the command's output: which database, errors that stop it
AccountOption = Annotated[str, typer.Option("--account", help="account that owns the gateway")]
UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="SLUICEGATE_URL",
        help="the running gateway (default: the address `serve` recorded in the data directory)",
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="SLUICEGATE_TOKEN",
        help="a token for the admin API (default: SLUICEGATE_ADMIN_TOKEN)",
        show_default=False,
    ),
]


def main() -> None:
    app()


def _error(message: str) -> None:
    """An error on stderr, on one line (a message may quote what a person typed: no markup in it)."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        _error(f"configuration: {exc}")
        raise typer.Exit(2) from exc


def _with_database(action: Callable[[Database], Awaitable[T]], *, create: bool = False) -> T:
    """Run `action` on the configured database, after saying on stderr which one it is; without
    `create`, a SQLite database that does not exist yet is an error naming the ways to the right one."""
    settings = _settings()
    url = settings.resolved_database_url
    errors.print(f"database {describe_database(url)}", highlight=False, soft_wrap=True)
    path = sqlite_path(url)
    if not create and path is not None and not path.exists():
        chosen = settings.database_url or settings.data_dir != Path("data")
        default = "" if chosen else " (./data under the current folder)"
        _error(
            f"no database at {path.resolve()}{default}: run this where the gateway runs, or set"
            " SLUICEGATE_DATA to its data directory (SLUICEGATE_DATABASE_URL for PostgreSQL);"
            " `sluicegate migrate` creates a new one here"
        )
        raise typer.Exit(1)

    async def run() -> T:
        database = create_database(url)
        await database.open()
        try:
            return await action(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except GatewayError as exc:
        _error(exc.message)
        raise typer.Exit(1) from exc


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (default: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on (default: 8787)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="worker processes sharing the port and backends")] = 1,
    reuse_port: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Start the gateway."""
    settings = _settings(host=host, port=port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if reuse_port:  # a worker of `serve --workers N`, whose parent printed the banner
        _serve(settings, reuse_port)
        return
    _print_banner(settings)
    address = record_address(settings)
    try:
        if workers == 1:
            _serve(settings, reuse_port)
        else:
            _serve_workers(settings, workers)
    finally:
        forget_address(address, settings)


def _print_banner(settings: Settings) -> None:
    """Where everything is, one whole line each: a URL cut by a wrap cannot be clicked or copied."""
    url = local_url(settings.host, settings.port)
    listening = f"{settings.host}:{settings.port}"
    lines = [
        f"Sluicegate listening on {listening}",
        f"  dashboard  {url}/dashboard/",
        f"  proxy      {url}/v1/{{account}}/{{gateway}}/{{provider}}/…",
        f"  admin API  {url}/api/v1/",
        f"  database   {describe_database(settings.resolved_database_url)}",
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _serve_workers(settings: Settings, workers: int) -> None:
    # Migrate and create the bootstrap token once, here, so workers do not race to do it.
    _with_database(lambda db: _bootstrap(db, settings), create=True)
    command = [
        sys.executable,
        "-m",
        "sluicegate",
        "serve",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
    ]
    children = [subprocess.Popen([*command, "--reuse-port"]) for _ in range(workers)]

    def stop(signum: int, frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    codes = [child.wait() for child in children]
    raise typer.Exit(max(codes))


async def _bootstrap(database: Database, settings: Settings) -> None:
    secret = await ensure_admin_token(database, DEFAULT_ACCOUNT, settings.admin_token)
    if secret is not None:
        print(f"Bootstrap admin token (shown once, stored hashed): {secret}", flush=True)


def _serve(settings: Settings, reuse_port: bool) -> None:
    import uvloop
    from aiohttp import web

    from sluicegate.app import create_app

    app = create_app(settings)
    # A request allocates a few hundred short-lived objects; with the default gen-0 threshold (700)
    # the collector runs every couple of requests and rescans everything the batches keep alive.
    # Fewer, larger young collections measured ~10 % less CPU per request on the proxy path.
    gc.set_threshold(50_000, 50, 100)
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,  # every request is in the gateway's own logs; a second log costs CPU
        print=None,
        handler_cancellation=True,  # a client that hangs up cancels its upstream request
        reuse_port=reuse_port or None,
        loop=uvloop.new_event_loop(),
    )


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (servers also do this when they start)."""
    _with_database(lambda db: asyncio.sleep(0), create=True)
    console.print(f"database {describe_database(_settings().resolved_database_url)} is up to date")


@gateway_app.command("create")
def gateway_create(
    name: str,
    slug: Annotated[str | None, typer.Option(help="URL segment (default: derived from NAME)")] = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Create a gateway."""
    slug = slug or slugify(name)
    if not is_slug(slug):
        _error(f"{slug!r} is not a valid slug (a-z, 0-9, '-')")
        raise typer.Exit(2)
    gateway = _with_database(lambda db: db.create_gateway(account, slug, name, GatewaySettings()))
    console.print(f"created gateway [bold]{gateway.slug}[/bold] in account {gateway.account}")


@gateway_app.command("list")
def gateway_list(account: AccountOption = DEFAULT_ACCOUNT) -> None:
    """List an account's gateways."""
    gateways = _with_database(lambda db: db.list_gateways(account))
    table = Table("slug", "name", "created", "settings")
    for g in gateways:
        table.add_row(g.slug, g.name, _time(g.created_at), g.settings.model_dump_json())
    console.print(table)


@gateway_app.command("delete")
def gateway_delete(slug: str, account: AccountOption = DEFAULT_ACCOUNT) -> None:
    """Delete a gateway (its logs stay)."""
    if not _with_database(lambda db: db.delete_gateway(account, slug)):
        _error(f"no gateway {slug!r} in account {account!r}")
        raise typer.Exit(1)
    console.print(f"deleted gateway {slug}")


@token_app.command("create")
def token_create(
    scope: Annotated[
        list[Scope], typer.Option("--scope", help="run, read, purge_all, feedback or admin (repeatable)")
    ],
    name: Annotated[str, typer.Option(help="what the token is for")] = "cli token",
    gateway: Annotated[list[str] | None, typer.Option("--gateway", help="limit to these gateways")] = None,
    expires_in: Annotated[float | None, typer.Option(help="seconds until it expires")] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            "--rule", help="its own limit, e.g. 5usd/day, 200000tokens/30d, or a JSON rule (repeatable)"
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="allow only these models; a trailing * matches (repeatable)"),
    ] = None,
    provider: Annotated[
        list[str] | None, typer.Option("--provider", help="allow only these providers")
    ] = None,
    metadata: Annotated[
        list[str] | None,
        typer.Option("--metadata", help="KEY=VALUE set on every request, e.g. team=search (repeatable)"),
    ] = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Create a token and print its secret (shown this once)."""
    try:
        limits = cli_budgets.allowance(rule or [], model or [], provider or [], metadata or [])
    except cli_budgets.OptionError as exc:
        _error(str(exc))
        raise typer.Exit(2) from exc
    known_providers = registry(_settings().custom_providers)
    for name_ in limits.providers or ():
        if name_ not in known_providers:
            _error(f"--provider: no provider {name_!r}{did_you_mean(name_, known_providers)}")
            raise typer.Exit(2)
    expires_at = time.time() + expires_in if expires_in else None
    token, secret = new_token(account, name, scope, gateway or None, expires_at)
    token = token.model_copy(update=limits.allowance())

    async def create(db: Database) -> None:
        known = [g.slug for g in await db.list_gateways(account)]
        for slug in gateway or []:
            if slug not in known:  # a token for a misspelt gateway would be refused everywhere
                raise BadRequest(no_gateway(account, slug, known))
        await db.create_token(token, hash_secret(secret))
        await db.record_audit(
            AuditEntry(time.time(), account, "cli", "token.create", token.id, {"name": name})
        )

    _with_database(create)
    console.print(f"token [bold]{token.id}[/bold] ({', '.join(token.scopes)}): {secret}", highlight=False)


@token_app.command("list")
def token_list(account: AccountOption = DEFAULT_ACCOUNT) -> None:
    """List tokens (never their secrets)."""
    tokens = _with_database(lambda db: db.list_tokens(account))
    # Ids are never cut: they are what `token revoke` takes. The other columns wrap instead.
    id_column = Column("id", no_wrap=True, min_width=max((len(t.id) for t in tokens), default=2))
    table = Table(id_column, "name", "scopes", "gateways", "limits", "expires", "state", "hint")
    for t in tokens:
        expires = _time(t.expires_at) if t.expires_at else "never"
        state = "revoked" if t.revoked_at else ("expired" if not t.active(time.time()) else "active")
        table.add_row(
            t.id, t.name, ",".join(t.scopes), ",".join(t.gateways or ["*"]), cli_budgets.allowance_text(t),
            expires, state, t.hint + "…",
        )  # fmt: skip
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[
        str, typer.Argument(help="the token's id as `token list` shows it, or a unique prefix")
    ],
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Revoke a token (replicas stop accepting it within a second)."""

    async def revoke(db: Database) -> str:
        found = _one_token(await db.list_tokens(account), token_id, account)
        if not await db.revoke_token(account, found.id, time.time()):
            raise NotFound(f"token {found.id} is already revoked")
        await db.record_audit(AuditEntry(time.time(), account, "cli", "token.revoke", found.id, {}))
        return found.id

    console.print(f"revoked token {_with_database(revoke)}")


def _one_token(tokens: list[Token], asked: str, account: str) -> Token:
    """The token whose id is `asked` or starts with it (a trailing `…` of a cut id is ignored);
    among several, the one not yet revoked; an error that says why when it is not one."""
    prefix = asked.strip().rstrip("…")
    exact = [t for t in tokens if t.id == prefix]
    matches = exact or [t for t in tokens if prefix and t.id.startswith(prefix)]
    active = [t for t in matches if t.revoked_at is None] or matches
    if not active:
        raise NotFound(
            f"no token {asked!r} in account {account!r}{did_you_mean(prefix, [t.id for t in tokens])}"
        )
    if len(active) > 1:
        ids = ", ".join(t.id for t in active)
        raise BadRequest(f"{asked!r} is the start of {len(active)} tokens ({ids}): give more of the id")
    return active[0]


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
    remote = _remote(url, token, "purge_all")
    path = f"/api/v1/accounts/{quote(account, safe='')}/gateways/{quote(gateway, safe='')}/cache"
    try:
        answer = remote.call("DELETE", path, {"key": key} if key is not None else None)
    except RemoteError as exc:
        _error(str(exc))
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
    remote = _remote(url, token, "read")
    query = {"by": by, "since": since, "until": until, "gateway": gateway, "key": key, "limit": str(limit)}
    try:
        answer = remote.call(
            "GET",
            f"/api/v1/accounts/{quote(account, safe='')}/spend",
            {name: value for name, value in query.items() if value is not None},
        )
    except RemoteError as exc:
        _error(str(exc))
        raise typer.Exit(1) from exc
    if as_json:
        console.print_json(data=answer)
        return
    console.print(cli_budgets.spend_table(answer))
    totals = answer["totals"]
    cost = cli_budgets.money(totals["cost_usd"])
    console.print(
        f"{answer['spenders']} spender(s), {totals['requests']} request(s), {cost}"
        f" since {_time(answer['from'])} UTC",
        highlight=False,
    )
    for budget in answer["budgets"]:
        console.print(cli_budgets.budget_text(budget), highlight=False, markup=False)


GatewayOption = Annotated[str, typer.Option("--gateway", help="the gateway whose routes or keys these are")]


def _routes_path(account: str, gateway: str, *parts: str) -> str:
    tail = "".join(f"/{quote(part, safe='')}" for part in parts)
    return f"/api/v1/accounts/{quote(account, safe='')}/gateways/{quote(gateway, safe='')}/routes{tail}"


def _call(remote: Remote, method: str, path: str, body: Any = None) -> Any:
    try:
        return remote.call(method, path, body=body)
    except RemoteError as exc:
        _error(str(exc))
        raise typer.Exit(1) from exc


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
        _error(f"cannot read {file}: {exc}")
        raise typer.Exit(2) from exc
    remote = _remote(url, token, "admin")
    answer = _call(remote, "PUT", _routes_path(account, gateway, name), node)
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
    remote = _remote(url, token, "read")
    answer = _call(remote, "GET", _routes_path(account, gateway, *([name] if name else [])))
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
    remote = _remote(url, token, "read")
    versions = _call(remote, "GET", _routes_path(account, gateway, name, "versions"))["result"]
    table = Table("version", "saved", "by", "route")
    for v in versions:
        mark = " (current)" if v["current"] else ""
        route = "(removed)" if v["removed"] else json.dumps(v["route"])
        table.add_row(f"{v['version']}{mark}", _time(v["ts"]), v["actor"], route)
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
    remote = _remote(url, token, "admin")
    answer = _call(remote, "POST", _routes_path(account, gateway, name, "versions", str(version), "restore"))
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
    keys = _call(_remote(url, token, "admin"), "GET", _keys_path(account, gateway))["result"]
    table = Table("provider", "name", "weight", "state", "fingerprint", "stored")
    for key in keys:
        state = key["status"] + (f" until {_time(key['until'])}" if key["until"] else "")
        state += f" ({key['reason']})" if key["reason"] else ""
        table.add_row(
            key["provider"],
            key["name"],
            f"{key['weight']:g}",
            state,
            key["fingerprint"],
            _time(key["created_at"]),
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
        _error("no key given: pipe it in (`… keys set openai main < key.txt`) or type it at the prompt")
        raise typer.Exit(2)
    body: dict[str, Any] = {"key": secret} | ({"weight": weight} if weight is not None else {})
    stored = _call(_remote(url, token, "admin"), "PUT", _keys_path(account, gateway, provider, name), body)
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
        _error("say what changes: --weight N, --enable or --disable")
        raise typer.Exit(2)
    key = _call(_remote(url, token, "admin"), "PATCH", _keys_path(account, gateway, provider, name), body)
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
    _call(_remote(url, token, "admin"), "DELETE", _keys_path(account, gateway, provider, name))
    console.print(f"removed {provider} key {name} from gateway {gateway}", highlight=False)


def _remote(url: str | None, token: str | None, scope: str) -> Remote:
    """The running gateway, and the token to call it with; exits saying how to give one if none."""
    settings = _settings()
    secret = token or settings.admin_token
    if not secret:
        _error(
            f"the admin API needs a token with the {scope!r} scope: pass --token or set"
            f" SLUICEGATE_TOKEN (`sluicegate token create --scope {scope}` makes one)"
        )
        raise typer.Exit(2)
    return Remote(find_gateway(url, settings), secret)


@logs_app.callback(invoke_without_command=True)
def logs(
    context: typer.Context,
    gateway: Annotated[str | None, typer.Option(help="only this gateway")] = None,
    status: Annotated[str | None, typer.Option(help="a status (429) or class (5xx)")] = None,
    provider: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(help="how many of the newest records")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new records")] = False,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Show request logs, newest last; `export` and `import` move them elsewhere and back."""
    if context.invoked_subcommand is not None:
        return
    params = {k: v for k, v in {"status": status, "provider": provider, "limit": str(limit)}.items() if v}
    query = _with_database_sync(lambda: log_query(account, gateway, params))

    async def show(db: Database) -> None:
        if gateway is not None:
            await _check_log_gateway(db, account, gateway)
        # What is already there when following starts is old: only the newest `limit` records of
        # it are shown, never the rest of the follow window after them.
        shown = {record.id for record in await _since(db, query, FOLLOW_WINDOW)} if follow else set()
        records = list(reversed(await db.query_logs(query)))
        for record in records:
            _print_record(record)
        shown.update(record.id for record in records)
        while follow:
            await asyncio.sleep(1.0)
            window = await _since(db, query, FOLLOW_WINDOW)
            for record in window:
                if record.id not in shown:
                    _print_record(record)
            shown = {record.id for record in window}  # older ids never come back: forget them

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends --follow
        _with_database(show)


@logs_app.command("export")
def logs_export(
    gateway: Annotated[str, typer.Option(help="the gateway whose records to export")] = "default",
    since: Annotated[
        str | None, typer.Option("--from", help="records at or after this time (epoch s or ISO 8601)")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="records before this time (default: when the export starts)")
    ] = None,
    status: Annotated[str | None, typer.Option(help="a status (429) or class (5xx)")] = None,
    provider: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    feedback: Annotated[str | None, typer.Option(help="-1, 0 or 1")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many records")] = None,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="the NDJSON file to write ('-': stdout)")
    ] = Path("-"),
    resume: Annotated[
        bool, typer.Option("--resume", help="continue the export in --output after its last whole line")
    ] = False,
    cursor: Annotated[str | None, typer.Option(help="continue an export from this line's cursor")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Export a gateway's records from the running gateway as NDJSON, oldest first (all fields,
    bodies included), for `logs import` or a log store of your own."""
    to_stdout = str(output) == "-"
    if resume and to_stdout:
        _error("--resume continues the file given with --output; for stdout, pass --cursor instead")
        raise typer.Exit(2)
    remote = _remote(url, token, "read")
    try:
        cursor = (logtransfer.resume_point(output) if resume else None) or cursor
    except logtransfer.NotAnExport as exc:
        _error(str(exc))
        raise typer.Exit(1) from exc
    filters = {
        "from": since, "to": until, "status": status, "provider": provider, "model": model,
        "feedback": feedback, "limit": str(limit) if limit else None, logtransfer.CURSOR: cursor,
    }  # fmt: skip
    request = logtransfer.ExportRequest(account, gateway, {k: v for k, v in filters.items() if v is not None})
    try:
        with (
            contextlib.nullcontext(sys.stdout.buffer)
            if to_stdout
            else output.open("ab" if resume else "wb") as out
        ):
            written = logtransfer.export(remote, request, out)
    except logtransfer.ExportInterrupted as exc:
        how = f"--cursor {exc.cursor}" if to_stdout else f"--output {output} --resume"
        _error(f"the export stopped after {exc.written} record(s): {exc}; continue it with {how}")
        raise typer.Exit(1) from exc
    except RemoteError as exc:
        _error(str(exc))
        raise typer.Exit(1) from exc
    where = "stdout" if to_stdout else str(output)
    errors.print(
        f"exported {written} record(s) of gateway {gateway} to {where}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


@logs_app.command("import")
def logs_import(
    file: Annotated[Path, typer.Argument(help="an NDJSON file written by `logs export` ('-': stdin)")],
) -> None:
    """Store the records of an export in the configured database (records already there are kept
    as they are, so importing a file twice stores each record once)."""

    async def load(db: Database) -> int:
        if str(file) == "-":
            return await logtransfer.import_records(db, sys.stdin.buffer)
        with file.open("rb") as lines:
            return await logtransfer.import_records(db, lines)

    try:
        read = _with_database(load)
    except logtransfer.ImportFailed as exc:
        _error(f"{file}: {exc}; the records before it were imported (importing again skips them)")
        raise typer.Exit(1) from exc
    except OSError as exc:
        _error(f"cannot read {file}: {exc.strerror}")
        raise typer.Exit(1) from exc
    console.print(
        f"{read} record(s) of {file} are in the database (any already there were kept as they were)",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


async def _check_log_gateway(db: Database, account: str, slug: str) -> None:
    """An error for a gateway that neither exists nor left records: a typo would print nothing."""
    if await db.get_gateway(account, slug) is None and not await db.count_logs(account, slug):
        raise unknown_gateway(account, slug, [g.slug for g in await db.list_gateways(account)])


def _print_record(record: LogRecord) -> None:
    console.print(_log_line(record), highlight=False, markup=False, soft_wrap=True)


# Records are written after their request ends, under an id stamped when it began: a long stream's
# record arrives late with an old id. Re-reading this window (and skipping ids already shown)
# catches every one.
FOLLOW_WINDOW = 330.0


async def _since(db: Database, query: LogQuery, window: float) -> list[LogRecord]:
    """Every matching record whose id is younger than `window` seconds, oldest first."""
    after = f"{int((time.time() - window) * 1000):012x}"
    found: list[LogRecord] = []
    while True:
        page = await db.query_logs(replace(query, after=after, limit=MAX_PAGE))
        found += page
        if len(page) < MAX_PAGE:
            return found
        after = page[-1].id


def _with_database_sync(build: Callable[[], T]) -> T:
    try:
        return build()
    except GatewayError as exc:
        _error(exc.message)
        raise typer.Exit(2) from exc


def _cache(r: LogRecord) -> str:
    """`HIT`, `MISS (semantic)`, ...: which cache the status is about, when it is the semantic one."""
    if not r.cache_status:
        return "-"
    return f"{r.cache_status} (semantic)" if r.cache_source == "semantic" else r.cache_status


def _log_line(r: LogRecord) -> str:
    tokens = (
        f"{r.tokens_in}/{r.tokens_out}{'~' if r.usage_estimated else ''}" if r.tokens_in is not None else "-"
    )
    cost = f"${r.cost_usd:.6f}" if r.cost_usd is not None else "-"
    parts = [
        _time(r.ts), r.id, r.gateway, r.provider, r.method, r.endpoint, r.model or "-",
        str(r.status), f"{r.latency_ms:.1f}ms", tokens, cost, _cache(r),
        "stream" if r.stream else "",
    ]  # fmt: skip
    line = " ".join(p for p in parts if p)
    return f"{line} error={r.error[:120]!r}" if r.error else line


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _custom_path(account: str, *parts: str) -> str:
    tail = "".join(f"/{quote(part, safe='')}" for part in parts)
    return f"/api/v1/accounts/{quote(account, safe='')}/custom-providers{tail}"


@custom_app.command("list")
def custom_list(
    url: UrlOption = None, token: TokenOption = None, account: AccountOption = DEFAULT_ACCOUNT
) -> None:
    """List the account's custom providers (their headers by name only)."""
    providers = _call(_remote(url, token, "read"), "GET", _custom_path(account))["result"]
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
            _error(f"--header takes NAME: VALUE, got one without ':' ({key.strip()!r})")
            raise typer.Exit(2)
        headers[key.strip()] = value.strip()
    body = {"name": name, "slug": slug or slugify(name), "base_url": base_url, "headers": headers}
    created = _call(_remote(url, token, "admin"), "POST", _custom_path(account), body)
    console.print(f"created {created['provider']} ({created['id']}) in account {account}", highlight=False)


@custom_app.command("delete")
def custom_delete(
    provider: Annotated[str, typer.Argument(help="its id or slug")],
    url: UrlOption = None,
    token: TokenOption = None,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Delete a custom provider."""
    _call(_remote(url, token, "admin"), "DELETE", _custom_path(account, provider))
    console.print(f"deleted custom provider {provider}", highlight=False)
