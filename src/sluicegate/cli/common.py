"""What the command modules share: the Typer apps, the consoles, the options, and the ways to a
database or to the running gateway."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from sluicegate.config import ConfigError, Settings, load_settings
from sluicegate.errors import GatewayError
from sluicegate.remote import Remote, RemoteError, find_gateway
from sluicegate.storage import Database, create_database, describe_database, sqlite_path
from sluicegate.storage.schema_version import SchemaTooNew
from sluicegate.times import number

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

GatewayOption = Annotated[str, typer.Option("--gateway", help="the gateway whose routes or keys these are")]


def print_error(message: str) -> None:
    """An error on stderr, on one line (a message may quote what a person typed: no markup in it)."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        print_error(f"configuration: {exc}")
        raise typer.Exit(2) from exc


def with_database(action: Callable[[Database], Awaitable[T]], *, create: bool = False) -> T:
    """Run `action` on the configured database, after saying on stderr which one it is; without
    `create`, a SQLite database that does not exist yet is an error naming the ways to the right one."""
    settings = settings_or_exit()
    url = settings.resolved_database_url
    errors.print(f"database {describe_database(url)}", highlight=False, soft_wrap=True)
    path = sqlite_path(url)
    if not create and path is not None and not path.exists():
        chosen = settings.stores.database_url or settings.data_dir != Path("data")
        default = "" if chosen else " (./data under the current folder)"
        print_error(
            f"no database at {path.resolve()}{default}: run this where the gateway runs, or set"
            " SLUICEGATE_DATA to its data directory (SLUICEGATE_DATABASE_URL for PostgreSQL);"
            " `sluicegate migrate` creates a new one here"
        )
        raise typer.Exit(1)

    async def run() -> T:
        database = create_database(
            url,
            statement_timeout=settings.timeouts.database_statement,
            connect_timeout=settings.timeouts.database_connect,
        )
        await database.open()
        try:
            return await action(database)
        finally:
            await database.close()

    try:
        return asyncio.run(run())
    except ConfigError as exc:  # a database URL only the backend reads (its scheme, its port)
        print_error(f"configuration: {exc}")
        raise typer.Exit(2) from exc
    except GatewayError as exc:
        print_error(exc.message)
        raise typer.Exit(1) from exc
    except SchemaTooNew as exc:  # a newer release's database (`sluicegate migrate` too)
        print_error(f"database {describe_database(url)}: {exc}")
        raise typer.Exit(2) from exc


def with_database_sync(build: Callable[[], T]) -> T:
    try:
        return build()
    except GatewayError as exc:
        print_error(exc.message)
        raise typer.Exit(2) from exc


def remote_gateway(url: str | None, token: str | None, scope: str) -> Remote:
    """The running gateway, and the token to call it with; exits saying how to give one if none."""
    settings = settings_or_exit()
    secret = token or settings.admin_token
    if not secret:
        print_error(
            f"the admin API needs a token with the {scope!r} scope: pass --token or set"
            f" SLUICEGATE_TOKEN (`sluicegate token create --scope {scope}` makes one)"
        )
        raise typer.Exit(2)
    return Remote(find_gateway(url, settings), secret)


def call(remote: Remote, method: str, path: str, body: Any = None) -> Any:
    try:
        return remote.call(method, path, body=body)
    except RemoteError as exc:
        print_error(str(exc))
        raise typer.Exit(1) from exc


def time_text(ts: float) -> str:
    """`ts` (epoch seconds) in UTC; a time no date can show (an expiry in milliseconds stored before
    the API refused one) as the number stored."""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (ValueError, OverflowError, OSError):
        return number(ts)
