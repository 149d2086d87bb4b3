"""`gateway …` and `token …`: the database's gateways and tokens, written directly."""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.table import Column, Table

from sluicegate.buckets import carry_counters
from sluicegate.cli import budgets
from sluicegate.cli.accounts import account_exists, check_account, no_account
from sluicegate.cli.common import (
    AccountOption,
    console,
    gateway_app,
    print_error,
    settings_or_exit,
    time_text,
    token_app,
    with_database,
    with_database_sync,
)
from sluicegate.errors import BadRequest, NotFound
from sluicegate.gateway import DEFAULT_ACCOUNT, Gateway, GatewaySettings, is_slug, slugify
from sluicegate.hints import did_you_mean, no_gateway
from sluicegate.providers import registry
from sluicegate.storage import Database
from sluicegate.storage.base import AuditEntry
from sluicegate.times import token_expiry
from sluicegate.tokens import TOKEN_PREFIX, Scope, Token, hash_secret, new_token

# The shortest start of a token id `token revoke` takes (ids are 16 hex digits): one or two
# characters match a token by chance, and revoking the wrong one locks a client out.
MIN_ID_START = 4


@gateway_app.command("create")
def gateway_create(
    name: str,
    slug: Annotated[str | None, typer.Option(help="URL segment (default: derived from NAME)")] = None,
    account: AccountOption = DEFAULT_ACCOUNT,
    new_account: Annotated[
        bool, typer.Option("--new-account", help="start --account with this gateway when it owns nothing yet")
    ] = False,
) -> None:
    """Create a gateway (in a new account only with --new-account)."""
    slug = slug or slugify(name)
    if not is_slug(slug):
        print_error(f"{slug!r} is not a valid slug (a-z, 0-9, '-')")
        raise typer.Exit(2)

    async def create(db: Database) -> tuple[Gateway, bool]:
        new = not await account_exists(db, account)
        if new and not new_account:  # a misspelt --account would start an account of its own
            raise await no_account(db, account, new=" (--new-account starts it with this gateway)")
        return await db.create_gateway(account, slug, name, GatewaySettings()), new

    gateway, new = with_database(create)
    where = f"new account {gateway.account}" if new else f"account {gateway.account}"
    console.print(f"created gateway [bold]{gateway.slug}[/bold] in {where}")


@gateway_app.command("list")
def gateway_list(account: AccountOption = DEFAULT_ACCOUNT) -> None:
    """List an account's gateways."""

    async def listed(db: Database) -> list[Gateway]:
        await check_account(db, account)
        return await db.list_gateways(account)

    gateways = with_database(listed)
    table = Table("slug", "name", "created", "settings")
    for g in gateways:
        table.add_row(g.slug, g.name, time_text(g.created_at), g.settings.model_dump_json())
    console.print(table)


@gateway_app.command("delete")
def gateway_delete(slug: str, account: AccountOption = DEFAULT_ACCOUNT) -> None:
    """Delete a gateway (its logs stay)."""

    async def delete(db: Database) -> bool:
        if await db.delete_gateway(account, slug):
            return True
        await check_account(db, account)
        return False

    if not with_database(delete):
        print_error(f"no gateway {slug!r} in account {account!r}")
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
    new_account: Annotated[
        bool, typer.Option("--new-account", help="start --account with this token when it owns nothing yet")
    ] = False,
) -> None:
    """Create a token and print its secret (shown this once); in a new account only with --new-account."""
    try:
        limits = budgets.allowance(rule or [], model or [], provider or [], metadata or [])
    except budgets.OptionError as exc:
        print_error(str(exc))
        raise typer.Exit(2) from exc
    known_providers = registry(settings_or_exit().custom_providers)
    for name_ in limits.providers or ():
        if name_ not in known_providers:
            print_error(f"--provider: no provider {name_!r}{did_you_mean(name_, known_providers)}")
            raise typer.Exit(2)
    expires_at = with_database_sync(lambda: token_expiry(None, expires_in, time.time(), None, "--expires-in"))
    token, secret = new_token(account, name, scope, gateway or None, expires_at)
    token = token.model_copy(update={**limits.allowance(), "rules": carry_counters((), limits.rules)})

    async def create(db: Database) -> None:
        if not new_account and not await account_exists(db, account):
            raise await no_account(db, account, new=" (--new-account starts it with this token)")
        known = [g.slug for g in await db.list_gateways(account)]
        for slug in gateway or []:
            if slug not in known:  # a token for a misspelt gateway would be refused everywhere
                raise BadRequest(no_gateway(account, slug, known))
        await db.create_token(token, hash_secret(secret))
        await db.record_audit(
            AuditEntry(time.time(), account, "cli", "token.create", token.id, {"name": name})
        )

    with_database(create)
    console.print(f"token [bold]{token.id}[/bold] ({', '.join(token.scopes)}): {secret}", highlight=False)


@token_app.command("list")
def token_list(account: AccountOption = DEFAULT_ACCOUNT) -> None:
    """List tokens (never their secrets)."""

    async def listed(db: Database) -> list[Token]:
        await check_account(db, account)
        return await db.list_tokens(account)

    tokens = with_database(listed)
    # Ids are never cut: they are what `token revoke` takes. The other columns wrap instead.
    id_column = Column("id", no_wrap=True, min_width=max((len(t.id) for t in tokens), default=2))
    table = Table(id_column, "name", "scopes", "gateways", "limits", "expires", "state", "hint")
    for t in tokens:
        expires = time_text(t.expires_at) if t.expires_at else "never"
        state = "revoked" if t.revoked_at else ("expired" if not t.active(time.time()) else "active")
        table.add_row(
            t.id, t.name, ",".join(t.scopes), ",".join(t.gateways or ["*"]), budgets.allowance_text(t),
            expires, state, t.hint + ("…" if t.hint.startswith(TOKEN_PREFIX) else ""),
        )  # fmt: skip
    console.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[
        str,
        typer.Argument(
            help=f"the token's id as `token list` shows it, or a unique start of it ({MIN_ID_START}+)"
        ),
    ],
    force: Annotated[
        bool,
        typer.Option("--force", help="revoke it even when it is the account's last unlimited admin token"),
    ] = False,
    account: AccountOption = DEFAULT_ACCOUNT,
) -> None:
    """Revoke a token (replicas stop accepting it within a second)."""

    async def revoke(db: Database) -> str:
        await check_account(db, account)
        tokens = await db.list_tokens(account)
        found = _one_token(tokens, token_id, account)
        if not force and _last_admin(tokens, found, time.time()):
            raise BadRequest(
                f"token {found.id} is the last active admin token of account {account!r} not limited to"
                " gateways or by budget rules: without it no token can manage the account's tokens through"
                " the API; create another first (`sluicegate token create --scope admin`), or pass --force"
                " (the CLI can still create one later)"
            )
        if not await db.revoke_token(account, found.id, time.time()):
            raise NotFound(f"token {found.id} is already revoked")
        await db.record_audit(AuditEntry(time.time(), account, "cli", "token.revoke", found.id, {}))
        return found.id

    console.print(f"revoked token {with_database(revoke)}")


def _one_token(tokens: list[Token], asked: str, account: str) -> Token:
    """The token whose id is `asked` or starts with it (a trailing `…` of a cut id is ignored);
    among several, the one not yet revoked; an error that says why when it is not one."""
    prefix = asked.strip().rstrip("…")
    exact = [t for t in tokens if t.id == prefix]
    if not exact and len(prefix) < MIN_ID_START:
        raise BadRequest(
            f"{asked!r} is too short a start of a token id: give at least {MIN_ID_START} characters of"
            " the id `token list` shows"
        )
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


def _last_admin(tokens: list[Token], token: Token, now: float) -> bool:
    """Whether `token` is the only active admin token of its account that is limited neither to
    gateways nor by budget rules (which keep a token from creating tokens): the account's only
    way to manage itself through the API."""

    def unlimited_admin(t: Token) -> bool:
        return t.active(now) and Scope.ADMIN in t.scopes and t.gateways is None and not t.rules

    return unlimited_admin(token) and not any(unlimited_admin(t) for t in tokens if t.id != token.id)
