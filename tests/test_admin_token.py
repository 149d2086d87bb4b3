"""The bootstrap admin token: SLUICEGATE_ADMIN_TOKEN's secret is stored as a hash only, its hint
shows nothing of it, and a short one is warned about."""

from __future__ import annotations

import time

import pytest

from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.tokens import (
    CONFIGURED_HINT,
    TOKEN_PREFIX,
    Scope,
    Token,
    ensure_admin_token,
    hash_secret,
    short_secret_warning,
)

ACCOUNT = "local"


@pytest.mark.parametrize(
    "secret", ["hunter2", "a-long-admin-secret-chosen-by-hand", "sg_looks-generated-0123"]
)
async def test_a_configured_secret_leaves_no_part_of_itself_in_the_hint(
    database: SqliteDatabase, secret: str
) -> None:
    assert await ensure_admin_token(database, ACCOUNT, secret) is None

    [token] = await database.list_tokens(ACCOUNT)
    assert token.hint == CONFIGURED_HINT
    assert secret[:3] not in token.model_dump_json()
    assert await database.token_by_hash(hash_secret(secret)) == token


async def test_a_generated_secret_keeps_its_first_characters_as_the_hint(database: SqliteDatabase) -> None:
    secret = await ensure_admin_token(database, ACCOUNT, "")

    assert secret is not None
    [token] = await database.list_tokens(ACCOUNT)
    assert token.hint == secret[:7]
    assert token.hint.startswith(TOKEN_PREFIX)


async def test_a_hint_stored_with_the_configured_secret_s_start_is_replaced_at_the_next_start(
    database: SqliteDatabase,
) -> None:
    secret = "hunter2"
    older = Token(
        id="0123456789abcdef", account=ACCOUNT, name="bootstrap admin (SLUICEGATE_ADMIN_TOKEN)",
        scopes=(Scope.ADMIN,), created_at=time.time(), hint=secret[:7],
    )  # fmt: skip
    await database.create_token(older, hash_secret(secret))

    await ensure_admin_token(database, ACCOUNT, secret)

    assert [t.hint for t in await database.list_tokens(ACCOUNT)] == [CONFIGURED_HINT]
    assert (await database.token_by_id(ACCOUNT, older.id)) == older.model_copy(
        update={"hint": CONFIGURED_HINT}
    )


def test_a_short_configured_secret_is_warned_about_naming_where_it_was_set() -> None:
    warning = short_secret_warning("hunter2", "SLUICEGATE_ADMIN_TOKEN")

    assert warning is not None
    assert warning.startswith(
        "SLUICEGATE_ADMIN_TOKEN is 7 characters long: an admin secret this short can be guessed; choose 16"
        " or more random characters"
    )
    assert "hunter2" not in warning
    assert short_secret_warning("x" * 16, "SLUICEGATE_ADMIN_TOKEN") is None
    assert short_secret_warning("", "SLUICEGATE_ADMIN_TOKEN") is None  # a generated one
