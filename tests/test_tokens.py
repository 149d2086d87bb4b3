"""A token never mints one wider than itself: `Token.overreach`, over every way to be wider."""

from __future__ import annotations

import pytest

from sluicegate.tokens import Scope, Token

T = 1_800_000_000.0


def token(*scopes: Scope, gateways: tuple[str, ...] | None = None, expires_at: float | None = None) -> Token:
    return Token(
        id="c", account="local", name="creator", scopes=scopes, gateways=gateways,
        expires_at=expires_at, created_at=T, hint="sg_abcd",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("creator", "scopes", "gateways", "expires_at", "reason"),
    [
        (token(Scope.READ), [Scope.READ, Scope.RUN], None, None, "lacks the scopes 'run'"),
        (token(Scope.ADMIN, gateways=("a",)), [Scope.RUN], None, None, "must list some of them"),
        (token(Scope.ADMIN, gateways=("a",)), [Scope.RUN], ["a", "b"], None, "'a', not 'b'"),
        (token(Scope.ADMIN, expires_at=T), [Scope.RUN], None, None, "must expire by then"),
        (token(Scope.ADMIN, expires_at=T), [Scope.RUN], None, T + 1, "must expire by then"),
    ],
)
def test_wider_tokens_are_refused_with_the_reason(
    creator: Token, scopes: list[Scope], gateways: list[str] | None, expires_at: float | None, reason: str
) -> None:
    refusal = creator.overreach(scopes, gateways, expires_at)
    assert refusal is not None
    assert reason in refusal


@pytest.mark.parametrize(
    ("creator", "scopes", "gateways", "expires_at"),
    [
        (token(Scope.ADMIN), list(Scope), None, None),  # admin holds every scope
        (token(Scope.READ, Scope.RUN), [Scope.RUN], None, None),
        (token(Scope.ADMIN, gateways=("a", "b")), [Scope.ADMIN], ["b"], None),
        (token(Scope.ADMIN, expires_at=T), [Scope.RUN], None, T),
    ],
)
def test_tokens_no_wider_are_allowed(
    creator: Token, scopes: list[Scope], gateways: list[str] | None, expires_at: float | None
) -> None:
    assert creator.overreach(scopes, gateways, expires_at) is None
