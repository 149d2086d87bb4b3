"""Authenticate, called directly: who may send a request through which gateway."""

from __future__ import annotations

import time

import pytest

from sluicegate.errors import Forbidden, Unauthorized
from sluicegate.gateway import Gateway, GatewaySettings
from sluicegate.pipeline.auth import Authenticate, authorized
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.tokens import Scope, Token, TokenDirectory, ensure_admin_token
from tests.pipeline.stage_parts import ACCOUNT, Downstream, make_exchange, make_gateway, stored_token

CLOSED = make_gateway(GatewaySettings(authentication=True))
OPEN = make_gateway()


def authenticate(database: SqliteDatabase) -> Authenticate:
    return Authenticate(TokenDirectory(database, time.time))


async def test_an_open_gateway_lets_a_request_without_a_token_through(database: SqliteDatabase) -> None:
    downstream = Downstream()
    await authenticate(database)(make_exchange(gateway=OPEN), downstream)
    assert len(downstream.seen) == 1
    assert downstream.seen[0].token is None


async def test_a_closed_gateway_refuses_a_request_without_a_token(database: SqliteDatabase) -> None:
    downstream = Downstream()
    with pytest.raises(Unauthorized, match="requires a token with the run scope"):
        await authenticate(database)(make_exchange(gateway=CLOSED), downstream)
    assert downstream.seen == []


@pytest.mark.parametrize(
    "header", ["cf-aig-authorization: Bearer {}", "Fastly-Key: {}", "x-sluicegate-token: {}"]
)
async def test_a_run_token_passes_in_each_header(database: SqliteDatabase, header: str) -> None:
    secret, token = await stored_token(database, Scope.RUN)
    name, _, value = header.format(secret).partition(": ")
    downstream = Downstream()
    await authenticate(database)(make_exchange(gateway=CLOSED, headers={name: value}), downstream)
    assert [seen.token for seen in downstream.seen] == [token]


async def test_a_token_without_the_run_scope_is_forbidden(database: SqliteDatabase) -> None:
    secret, _ = await stored_token(database, Scope.READ)
    downstream = Downstream()
    exchange = make_exchange(gateway=CLOSED, headers={"x-sluicegate-token": secret})
    with pytest.raises(Forbidden, match="gateway 'main': it has the scopes 'read' but not 'run'") as caught:
        await authenticate(database)(exchange, downstream)
    assert "sluicegate token create --scope run" in caught.value.message
    assert downstream.seen == []


async def test_a_token_for_other_gateways_or_another_account_is_forbidden(database: SqliteDatabase) -> None:
    elsewhere, _ = await stored_token(database, Scope.RUN, gateways=("other",))
    foreign, _ = await stored_token(database, Scope.RUN, account="someone-else")
    for secret in (elsewhere, foreign):
        exchange = make_exchange(gateway=OPEN, headers={"x-sluicegate-token": secret})
        with pytest.raises(Forbidden):
            await authenticate(database)(exchange, Downstream())


async def test_an_unknown_token_is_refused_even_by_an_open_gateway(database: SqliteDatabase) -> None:
    # A sent token is always checked, so per-token limits cannot be dodged with a made-up one.
    exchange = make_exchange(gateway=OPEN, headers={"x-sluicegate-token": "sg_not-a-real-token"})
    with pytest.raises(Unauthorized, match="invalid, expired or revoked"):
        await authenticate(database)(exchange, Downstream())


async def test_the_token_metadata_wins_over_the_request_metadata(database: SqliteDatabase) -> None:
    secret, _ = await stored_token(database, Scope.RUN, metadata={"team": "red"})
    exchange = make_exchange(gateway=OPEN, headers={"x-sluicegate-token": secret})
    exchange.options.metadata = {"team": "blue", "user": "ann"}  # as Resolve read it from cf-aig-metadata
    downstream = Downstream()
    await authenticate(database)(exchange, downstream)
    assert downstream.seen[0].options.metadata == {"team": "red", "user": "ann"}


def test_authorized_decides_from_the_token_found_the_account_and_the_gateway() -> None:
    """The decision alone, with plain inputs: no token store, no Exchange."""
    token = Token.model_validate(
        {"id": "t1", "account": "local", "name": "ci", "scopes": (Scope.RUN,), "created_at": 0}
        | {"hint": "sg_ab"}
    )
    assert authorized(False, None, "local", OPEN) is None
    assert authorized(True, token, "local", CLOSED) is token
    with pytest.raises(Unauthorized, match="requires a token"):
        authorized(False, None, "local", CLOSED)
    with pytest.raises(Unauthorized, match="invalid, expired or revoked"):
        authorized(True, None, "local", OPEN)
    with pytest.raises(Forbidden, match="may not send requests through gateway 'main'"):
        authorized(True, token, "elsewhere", OPEN)


# A Cloudflare API token: 40 characters of letters, digits, `-` and `_`, never `sg_…`.
CLOUDFLARE_TOKEN = "Zx7-Qm2v_Lk9Rt4Wp8Nc3Hb6Jd1Fg5Ys0Ua7Ie2O"


@pytest.mark.parametrize("header", ["cf-aig-authorization", "fastly-key", "x-sluicegate-token"])
async def test_an_open_gateway_ignores_a_value_that_cannot_be_a_gateway_token_a_closed_one_refuses_it(
    database: SqliteDatabase, header: str
) -> None:
    """Cloudflare's "Expected behavior" table: authentication off and the header present, the
    request succeeds (https://developers.cloudflare.com/ai-gateway/configuration/authentication/)."""
    downstream = Downstream()
    headers = {header: f"Bearer {CLOUDFLARE_TOKEN}"}
    await authenticate(database)(make_exchange(gateway=OPEN, headers=headers), downstream)
    assert [seen.token for seen in downstream.seen] == [None]
    with pytest.raises(Unauthorized, match="invalid, expired or revoked"):
        await authenticate(database)(make_exchange(gateway=CLOSED, headers=headers), Downstream())


async def test_past_an_ignored_value_a_token_still_counts_and_a_made_up_one_is_still_refused(
    database: SqliteDatabase,
) -> None:
    secret, token = await stored_token(database, Scope.RUN, metadata={"team": "red"})
    for where in ({"x-sluicegate-token": secret}, {"Authorization": f"Bearer {secret}"}):
        exchange = make_exchange(gateway=OPEN, headers={"cf-aig-authorization": CLOUDFLARE_TOKEN, **where})
        downstream = Downstream()
        await authenticate(database)(exchange, downstream)
        assert [seen.token for seen in downstream.seen] == [token], where
        assert downstream.seen[0].options.metadata == {"team": "red"}
    # A value of the token format was meant for this gateway: refused, revoked or made up.
    made_up = {"cf-aig-authorization": CLOUDFLARE_TOKEN, "x-sluicegate-token": "sg_" + "x" * 32}
    with pytest.raises(Unauthorized, match="invalid, expired or revoked"):
        await authenticate(database)(make_exchange(gateway=OPEN, headers=made_up), Downstream())
    # `SLUICEGATE_ADMIN_TOKEN` may be any string: a stored token counts, whatever it looks like.
    await ensure_admin_token(database, ACCOUNT, "plain-admin-secret-1234")
    downstream = Downstream()
    plain = {"cf-aig-authorization": "Bearer plain-admin-secret-1234"}
    await authenticate(database)(make_exchange(gateway=OPEN, headers=plain), downstream)
    [seen] = downstream.seen
    assert seen.token is not None
    assert seen.token.holds(Scope.ADMIN)


@pytest.mark.parametrize("gateway", [OPEN, CLOSED], ids=["open", "closed"])
async def test_a_browser_s_token_in_cloudflare_s_subprotocol_passes(
    database: SqliteDatabase, gateway: Gateway
) -> None:
    secret, token = await stored_token(database, Scope.RUN)
    protocols = f"realtime, cf-aig-authorization.{secret}, openai-insecure-api-key.sk-own-0123456789"
    exchange = make_exchange(gateway=gateway, kind="realtime", headers={"Sec-WebSocket-Protocol": protocols})
    downstream = Downstream()
    await authenticate(database)(exchange, downstream)
    assert [seen.token for seen in downstream.seen] == [token]
