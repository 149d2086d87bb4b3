"""A token never mints one wider than itself: `Token.overreach`, over every way to be wider."""

from __future__ import annotations

import pytest

from sluicegate.allowance import Allowance, TokenRule
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


def test_an_allowance_is_never_widened_by_the_tokens_a_token_creates() -> None:
    creator = token(Scope.ADMIN).model_copy(
        update={"models": ("gpt-4o*",), "providers": ("openai",), "metadata": {"team": "red"}}
    )
    same = Allowance(models=("gpt-4o-mini",), providers=("openai",), metadata={"team": "red", "user": "a"})
    assert creator.overreach([Scope.RUN], None, None, same) is None
    for wider, reason in [
        (same.model_copy(update={"models": None}), "must list some of them in `models`"),
        (same.model_copy(update={"models": ("gpt-*",)}), "not 'gpt-*'"),
        (same.model_copy(update={"providers": ("openai", "anthropic")}), "not 'anthropic'"),
        (same.model_copy(update={"metadata": {"user": "a"}}), "sets metadata team='red'"),
        (same.model_copy(update={"metadata": {"team": "blue"}}), "sets metadata team='red'"),
    ]:
        refusal = creator.overreach([Scope.RUN], None, None, wider)
        assert refusal is not None, wider
        assert reason in refusal, (wider, refusal)
    budgeted = token(Scope.ADMIN).model_copy(update={"rules": (TokenRule(limit=1, period=60),)})
    assert "cannot create tokens" in (budgeted.overreach([Scope.RUN], None, None) or "")


@pytest.mark.parametrize(
    ("allowance", "provider", "model", "method", "refused"),
    [
        (Allowance(), "openai", "gpt-4o", "POST", None),
        (Allowance(models=("gpt-4o-mini",)), "openai", "gpt-4o-mini", "POST", None),
        (Allowance(models=("gpt-4o-mini",)), "openai", "gpt-4o", "POST", "not 'gpt-4o'"),
        (Allowance(models=("claude-*",)), "anthropic", "claude-sonnet-4", "POST", None),
        (Allowance(models=("gpt-4o-mini",)), "openai", None, "POST", "names no model"),
        (Allowance(models=("gpt-4o-mini",)), "openai", None, "GET", None),  # a listing runs no model
        (Allowance(providers=("anthropic",)), "openai", "gpt-4o", "POST", "not 'openai'"),
    ],
)
def test_allow_lists(
    allowance: Allowance, provider: str, model: str | None, method: str, refused: str | None
) -> None:
    refusal = allowance.refusal(provider, model, method)
    assert (refusal is None) if refused is None else (refusal is not None and refused in refusal)
