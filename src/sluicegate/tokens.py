"""Gateway tokens: scoped, hashed at rest, compared in constant time, cached briefly per replica.

A token is `sg_` + 32 random URL-safe characters, shown once at creation. The database keeps its
SHA-256 (a fast hash is right here: the secret has 190 bits of entropy, nothing to brute-force).
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from pydantic import ConfigDict, Field

from sluicegate.allowance import Allowance
from sluicegate.errors import Conflict
from sluicegate.headertext import header_bytes
from sluicegate.readthrough import READ_TIMEOUT, ReadThrough
from sluicegate.times import shown

TOKEN_PREFIX = "sg_"
# The hint of the token whose secret is SLUICEGATE_ADMIN_TOKEN: a secret chosen freely may be short
# or guessable, so nothing of it is kept in the clear (a generated one's `sg_` and 4 random
# characters tell nothing of its other 28).
CONFIGURED_HINT = "(SLUICEGATE_ADMIN_TOKEN)"
SHORT_SECRET = 16  # characters: a configured secret shorter than this is warned about at start


class Scope(enum.StrEnum):
    RUN = "run"  # send requests through a gateway
    READ = "read"  # analytics and logs
    PURGE_ALL = "purge_all"  # purge caches
    FEEDBACK = "feedback"  # annotate log records (feedback, score, metadata): a write `read` must not allow
    ADMIN = "admin"  # manage gateways, tokens, keys, settings (implies every other scope)


class Token(Allowance):
    """A stored token, without its secret; what it may spend and on what is its `Allowance`."""

    model_config = ConfigDict(frozen=True)

    id: str
    account: str
    name: str
    scopes: tuple[Scope, ...]
    gateways: tuple[str, ...] | None = Field(None, description="the gateways it may use; None: all")
    expires_at: float | None = None
    created_at: float
    revoked_at: float | None = None
    hint: str = Field(
        description="a generated secret's first characters, to tell tokens apart; CONFIGURED_HINT for"
        " the secret SLUICEGATE_ADMIN_TOKEN chose"
    )

    def holds(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes

    def reaches(self, gateway: str) -> bool:
        return self.gateways is None or gateway in self.gateways

    def allows(self, scope: Scope, gateway: str | None = None) -> bool:
        return self.holds(scope) and (gateway is None or self.reaches(gateway))

    def limits(self) -> str:
        """Its gateway limit in words, for error messages."""
        if self.gateways is None:
            return "this token may use every gateway"
        return "this token is limited to gateways " + (", ".join(map(repr, self.gateways)) or "(none)")

    def overreach(
        self,
        scopes: Sequence[Scope],
        gateways: Sequence[str] | None,
        expires_at: float | None,
        allowance: Allowance | None = None,
    ) -> str | None:
        """What a token with these powers would have that this one lacks, in words (None: nothing).

        A token may only mint tokens no wider than itself: scopes it holds (admin holds all), a
        subset of its gateways, an expiry no later than its own, and an allowance no wider
        (`Allowance.widened_by`).
        """
        missing = [scope.value for scope in scopes if not self.holds(scope)]
        if missing:
            return f"this token lacks the scopes {', '.join(map(repr, missing))} it would grant"
        if self.gateways is not None:
            if gateways is None:
                return f"{self.limits()}, so a token it creates must list some of them in `gateways`"
            outside = [g for g in gateways if g not in self.gateways]
            if outside:
                return f"{self.limits()}, not {', '.join(map(repr, outside))}"
        if self.expires_at is not None and (expires_at is None or expires_at > self.expires_at):
            until = shown(self.expires_at)
            return f"this token expires at {until}, so a token it creates must expire by then"
        return self.widened_by(allowance or Allowance())

    def active(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class TokenStore(Protocol):
    async def create_token(self, token: Token, secret_hash: str) -> None:
        """Raises `errors.Conflict` when the id or the secret is taken."""
        ...

    async def token_by_hash(self, secret_hash: str) -> Token | None: ...

    async def list_tokens(self, account: str) -> list[Token]: ...

    async def token_by_id(self, account: str, token_id: str) -> Token | None:
        """One token of `account`, revoked or not (its `revoked_at` says)."""
        ...

    async def revoke_token(self, account: str, token_id: str, at: float) -> bool: ...

    async def update_token(self, token: Token) -> bool:
        """Store `token`'s new name and allowance (its secret stays); False if it is not active."""
        ...

    async def count_tokens(self) -> int: ...


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(24)


def hash_secret(secret: str) -> str:
    """The stored digest of `secret`; one read from a header may hold bytes that are not UTF-8."""
    return hashlib.sha256(header_bytes(secret)).hexdigest()


def new_token(
    account: str, name: str, scopes: Sequence[Scope], gateways: Sequence[str] | None, expires_at: float | None
) -> tuple[Token, str]:
    """A new token and its secret (to show once)."""
    secret = new_secret()
    token = Token(
        id=secrets.token_hex(8),
        account=account,
        name=name,
        scopes=tuple(scopes),
        gateways=tuple(gateways) if gateways is not None else None,
        expires_at=expires_at,
        created_at=time.time(),
        hint=secret[:7],
    )
    return token, secret


class TokenDirectory:
    """Looks tokens up by secret with a short-lived cache: a revocation made through another
    replica is seen within `ttl` seconds, one made here at once (`forget`); while the database is
    down the tokens already seen keep being answered (see `readthrough.py`)."""

    def __init__(
        self,
        store: TokenStore,
        clock: Callable[[], float],
        ttl: float = 1.0,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._entries: ReadThrough[str, Token | None] = ReadThrough(
            store.token_by_hash, ttl, clock, read_timeout
        )

    def now(self) -> float:
        """The time tokens are checked at: what a new token's expiry is judged by."""
        return self._clock()

    async def check(self, secret: str) -> Token | None:
        """The active token whose secret this is, or None."""
        token = await self._entries.get(hash_secret(secret))
        return token if token is not None and token.active(self._clock()) else None

    def forget(self, token_id: str) -> None:
        self._entries.forget_where(lambda token: token is not None and token.id == token_id)


def short_secret_warning(configured: str, given_as: str) -> str | None:
    """A warning for a configured admin secret short enough to guess (None: long enough, or none)."""
    if not configured or len(configured) >= SHORT_SECRET:
        return None
    return (
        f"{given_as} is {len(configured)} characters long: an admin secret this short can be guessed;"
        f" choose {SHORT_SECRET} or more random characters (`python -c 'import secrets;"
        " print(secrets.token_urlsafe(24))'`), or leave it unset for a generated token"
    )


async def ensure_admin_token(store: TokenStore, account: str, configured: str) -> str | None:
    """Make sure someone can administer the gateway on first start.

    With `configured` (SLUICEGATE_ADMIN_TOKEN), that secret is an admin token, whose hint is
    `CONFIGURED_HINT` (one stored by an older version with the secret's first characters is given
    it). Without it, the first start generates one and returns it, to be printed once; later starts
    return None.
    """
    if configured:
        stored = await store.token_by_hash(hash_secret(configured))
        if stored is None:
            token = Token(
                id=secrets.token_hex(8),
                account=account,
                name="bootstrap admin (SLUICEGATE_ADMIN_TOKEN)",
                scopes=(Scope.ADMIN,),
                created_at=time.time(),
                hint=CONFIGURED_HINT,
            )
            # Another replica starting at the same time may have created it first.
            with contextlib.suppress(Conflict):
                await store.create_token(token, hash_secret(configured))
        elif stored.hint != CONFIGURED_HINT and stored.revoked_at is None:
            await store.update_token(stored.model_copy(update={"hint": CONFIGURED_HINT}))
        return None
    if await store.count_tokens():
        return None
    token, secret = new_token(account, "bootstrap admin", [Scope.ADMIN], None, None)
    await store.create_token(token, hash_secret(secret))
    return secret
