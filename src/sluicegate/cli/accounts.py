"""Which accounts there are, for the commands that name one with `--account`.

An account has no row of its own: it is there while it owns a gateway or a token (the first start
makes `local`, with the gateway `default` and the bootstrap token). So a misspelt `--account` would
read as an account with nothing in it, and `gateway create` would quietly start a new one: commands
refuse an account that owns nothing, naming the ones there are, and a gateway or a token is made in
a new account only when `--new-account` says so.
"""

from __future__ import annotations

from sluicegate.errors import NotFound
from sluicegate.hints import did_you_mean
from sluicegate.storage import Database


async def account_exists(db: Database, account: str) -> bool:
    return bool(await db.list_gateways(account) or await db.list_tokens(account))


async def no_account(db: Database, account: str, *, new: str = "") -> NotFound:
    """`no account 'x'; did you mean 'local'?` (or the accounts there are), and `new` after it."""
    known = {gateway.account for gateway in await db.all_gateways()}
    return NotFound(f"no account {account!r}{did_you_mean(account, known)}{new}")


async def check_account(db: Database, account: str) -> None:
    """Raise `no_account` when `account` owns neither a gateway nor a token."""
    if not await account_exists(db, account):
        raise await no_account(db, account)
