"""What a stored provider key's fingerprint shows of it: 48 bits of an HMAC under a key derived from
the master key, which no one without the master key can test guesses against, and the last 4
characters only of a key long enough for them to tell nothing; and what a listing shows of a
fingerprint an older version stored, unkeyed."""

from __future__ import annotations

import hashlib

from sluicegate.keys import WITHHELD, KeyDirectory, KeyVault
from sluicegate.storage.base import StoredKey
from sluicegate.storage.sqlite import SqliteDatabase

VAULT = KeyVault("a master key for tests")
PROVIDER_S = "sk-proj-0123456789abcdefWXYZ"


def unkeyed(key: str) -> str:
    """The fingerprint older versions made: anyone can compute it, so a short key is found from it
    by trying every key of 1 to 4 characters (a few seconds)."""
    return f"sha256:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def test_a_fingerprint_is_keyed_by_the_master_key() -> None:
    short = VAULT.fingerprint("k3y9")  # a local vLLM's `--api-key`, chosen by hand
    assert short.startswith("hmac:")
    assert len(short) == len("hmac:") + 12
    assert short[len("hmac:") :] != unkeyed("k3y9")[len("sha256:") :]
    # One install shows one key alike (on every gateway, across restarts); another master key makes
    # another fingerprint, and two keys differ.
    assert KeyVault("a master key for tests").fingerprint("k3y9") == short
    assert KeyVault("another master key").fingerprint("k3y9") != short
    assert VAULT.fingerprint("k3y8") != short


def test_only_a_key_of_20_characters_or_more_shows_its_last_four() -> None:
    assert VAULT.fingerprint(PROVIDER_S).endswith("…WXYZ")
    for chosen_by_hand in ("abc", "hunter2", "local-vllm-key-19ch"):
        assert "…" not in VAULT.fingerprint(chosen_by_hand), chosen_by_hand


async def test_a_short_keys_unkeyed_fingerprint_is_shown_keyed_a_long_keys_as_stored(
    database: SqliteDatabase,
) -> None:
    # As an older version stored them: a short key's fingerprint without a tail (since 6ca4a6b) or
    # with one that is the whole key (before), a provider's key's with its tail.
    before = {
        "short": ("k3y9", unkeyed("k3y9")),
        "older": ("abcd", unkeyed("abcd") + "…abcd"),
        "provider": (PROVIDER_S, unkeyed(PROVIDER_S) + "…WXYZ"),
    }
    for name, (key, fingerprint) in before.items():
        stored = StoredKey("local", "default", "openai", fingerprint, 0.0, name)
        await database.put_provider_key(stored, VAULT.seal(key))
    listed = await KeyDirectory(database, VAULT).listed("local", "default")
    shown = {stored.name: stored.fingerprint for stored, _ in listed}
    assert shown == {
        "short": VAULT.fingerprint("k3y9"),
        "older": VAULT.fingerprint("abcd"),
        "provider": before["provider"][1],  # as the audit trail and earlier listings show it
    }
    # Under another master key no key can be unsealed, nor its length known: none is shown.
    elsewhere = await KeyDirectory(database, KeyVault("another master key")).listed("local", "default")
    assert {stored.fingerprint for stored, _ in elsewhere} == {WITHHELD}
    # A key stored now has the keyed fingerprint, whatever its length.
    now = await KeyDirectory(database, VAULT).store("local", "default", "openai", PROVIDER_S, "new")
    assert now.fingerprint == VAULT.fingerprint(PROVIDER_S)
