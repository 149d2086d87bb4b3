"""Stored provider keys: sealed at rest with the master key, injected when a request brings none.

The master key comes from `SLUICEGATE_SECRET_KEY` and never reaches the database; keys are sealed
with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from it. Only a fingerprint of a
stored key is ever shown, keyed by another key derived from it (`KeyVault.fingerprint`), so that
no one without the master key can test guesses of a key against it. A provider may have several
keys on a gateway, each with a name and a weight: its key pool (`routing/keypool.py` chooses among
them, `pipeline/keys.py` per request).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from dataclasses import replace

from cryptography.fernet import Fernet, InvalidToken

from sluicegate.errors import Conflict
from sluicegate.readthrough import READ_TIMEOUT, ReadThrough
from sluicegate.routing.keypool import KeyRing, PoolKey
from sluicegate.storage.base import ProviderKeyStore, StoredKey

_log = logging.getLogger(__name__)
DEFAULT_NAME = "default"  # the key the single-key API stores and removes
# Where each provider takes its key is its own: `Provider.key_header`.


SHORT_KEY = 20
FINGERPRINT_PREFIX = "hmac:"
# What older versions stored: an unsalted SHA-256 prefix, which anyone could test guesses against (a
# short key chosen by hand, a local server's `--api-key`, is found in seconds).
UNKEYED_PREFIX = "sha256:"
WITHHELD = "(withheld: sealed under another master key)"


def _tail(key: str) -> str:
    """The last 4 characters, of a key of `SHORT_KEY` characters or more only (a provider's keys are
    longer, and its console shows their tail too; one chosen by hand may be 4 characters in all)."""
    return f"…{key[-4:]}" if len(key) >= SHORT_KEY else ""


class KeyVault:
    """Seals and unseals provider keys, and fingerprints them; refuses to store any without a master key."""

    def __init__(self, master_key: str) -> None:
        derived = hashlib.sha256(b"sluicegate provider keys\0" + master_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(derived)) if master_key else None
        self._marks = hashlib.sha256(b"sluicegate key fingerprints\0" + master_key.encode()).digest()

    def seal(self, key: str) -> bytes:
        if self._fernet is None:
            raise Conflict("storing provider keys needs a master key: set SLUICEGATE_SECRET_KEY")
        return self._fernet.encrypt(key.encode())

    def fingerprint(self, key: str) -> str:
        """Enough to tell keys apart, nothing to recover one: 48 bits of an HMAC-SHA256 of the key
        under a key derived from the master key (one install shows one key alike on every gateway),
        and the last 4 characters of a key of `SHORT_KEY` characters or more."""
        mark = hmac.new(self._marks, key.encode(), hashlib.sha256).hexdigest()[:12]
        return f"{FINGERPRINT_PREFIX}{mark}{_tail(key)}"

    def shown(self, stored: StoredKey, sealed: bytes) -> StoredKey:
        """`stored` with a fingerprint fit to show. One an older version made, unkeyed, stays where
        its key has `SHORT_KEY` characters or more (a provider's: nothing to recover; so it still
        matches the audit trail and earlier listings); for a shorter key it is made again, keyed
        (stored so when the key's weight changes); withheld where the key cannot be unsealed."""
        if not stored.fingerprint.startswith(UNKEYED_PREFIX):
            return stored
        key = self.unseal(sealed)
        if key is None:
            return replace(stored, fingerprint=WITHHELD)
        return stored if len(key) >= SHORT_KEY else replace(stored, fingerprint=self.fingerprint(key))

    def unseal(self, sealed: bytes) -> str | None:
        """The key, or None when it was sealed under another master key (or there is none now)."""
        if self._fernet is None:
            return None
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            return None


def pool_name(account: str, gateway: str, provider: str) -> str:
    """Where the health of a provider's keys on a gateway is kept (`routing/keypool.py`)."""
    return f"{account}/{gateway}/{provider}"


class KeyDirectory:
    """A gateway's unsealed keys, one `KeyRing` per provider, cached `ttl` seconds (changes made
    elsewhere show up then). A key sealed under another master key is never used, only named in
    its ring (`KeyRing.sealed`) and in a warning, once per replica: a request that would have gone
    on it is refused (`no_usable_key`) instead of reaching the provider with no key at all."""

    def __init__(
        self, store: ProviderKeyStore, vault: KeyVault, ttl: float = 1.0, read_timeout: float = READ_TIMEOUT
    ) -> None:
        self._store = store
        self._vault = vault
        self._entries: ReadThrough[tuple[str, str], dict[str, KeyRing]] = ReadThrough(
            self._load, ttl, read_timeout=read_timeout
        )
        self._warned: set[tuple[str, tuple[str, ...]]] = set()  # (pool, sealed names) warned of

    async def rings(self, account: str, gateway: str) -> dict[str, KeyRing]:
        return await self._entries.get((account, gateway))

    async def _load(self, scope: tuple[str, str]) -> dict[str, KeyRing]:
        grouped: dict[str, list[tuple[StoredKey, str]]] = {}
        unsealable: dict[str, tuple[str, ...]] = {}
        for stored, sealed in await self._store.provider_keys(*scope):
            key = self._vault.unseal(sealed)
            if key:
                grouped.setdefault(stored.provider, []).append((stored, key))
            else:
                unsealable[stored.provider] = (*unsealable.get(stored.provider, ()), stored.name)
        for provider, names in unsealable.items():
            self._warn(pool_name(*scope, provider), tuple(sorted(names)))  # one set, one warning
        rings: dict[str, KeyRing] = {}
        for provider in grouped.keys() | unsealable.keys():
            keys = grouped.get(provider, [])
            rings[provider] = KeyRing(
                pool_name(*scope, provider),
                tuple(PoolKey(name=stored.name, weight=stored.weight) for stored, _ in keys),
                {stored.name: key for stored, key in keys},
                unsealable.get(provider, ()),
            )
        return rings

    def _warn(self, pool: str, names: tuple[str, ...]) -> None:
        if (pool, names) not in self._warned:
            self._warned.add((pool, names))
            _log.warning(
                "stored provider keys %s of %s cannot be unsealed: they were sealed under another master"
                " key (SLUICEGATE_SECRET_KEY changed, or is unset); they are not used until the gateway"
                " runs with the key they were stored with, or they are stored again",
                ", ".join(names),
                pool,
            )

    def forget(self, account: str, gateway: str) -> None:
        self._entries.forget((account, gateway))

    async def store(
        self,
        account: str,
        gateway: str,
        provider: str,
        key: str,
        name: str = DEFAULT_NAME,
        weight: float = 1.0,
    ) -> StoredKey:
        sealed = self._vault.seal(key)  # refused without a master key, before anything else
        stored = StoredKey(
            account, gateway, provider, self._vault.fingerprint(key), time.time(), name, weight
        )
        await self._store.put_provider_key(stored, sealed)
        self.forget(account, gateway)
        return stored

    async def listed(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]:
        """The gateway's stored keys, sealed, each with a fingerprint fit to show (`KeyVault.shown`)."""
        return [
            (self._vault.shown(stored, sealed), sealed)
            for stored, sealed in await self._store.provider_keys(account, gateway)
        ]
