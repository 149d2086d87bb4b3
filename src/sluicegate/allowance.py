"""What one gateway token may spend and on what — LiteLLM's "virtual keys", on our own tokens.

A token can carry:

- `rules`: its own limits (requests, tokens or USD per period), the gateway's `RateLimitRule`
  counted over this token's use on every gateway it reaches;
- `models` and `providers`: allow-lists; a request for anything else is a 403 naming what is allowed;
- `metadata`: entries (`user`, `team`, …) merged into every request's `cf-aig-metadata`. The
  token's values win over the request's: a budget per `metadata.team` would mean nothing if a
  client could send another team.

All of it travels in the token itself, which the token directory already holds in memory: checking
it costs no database round trip.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sluicegate.gateway import SLUG_PATTERN, RateLimitRule
from sluicegate.reserved import reserved_in

MetadataValue = str | int | float | bool
MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ModelName = Annotated[str, Field(min_length=1, max_length=200)]
ProviderName = Annotated[str, Field(pattern=SLUG_PATTERN)]
MAX_METADATA = 5  # as many entries as one cf-aig-metadata header may carry
# Requests that run a model: a GET (a model listing, a prediction's status) names none.
_BILLED_METHODS = frozenset({"POST", "PUT", "PATCH"})


class TokenRule(RateLimitRule):
    """A rule of a token: counted per token, whatever gateway the token's requests go through."""

    scope: Literal["token"] = Field("token", description="always the token itself")

    @field_validator("scope", mode="before")
    @classmethod
    def _only_the_token(cls, value: Any) -> Any:
        if value != "token":
            raise ValueError(
                f"a token's rules count that token's own use, so their scope is 'token' (got {value!r});"
                " leave it out. Budgets per user or team are gateway rules with scope metadata.user or"
                " metadata.team"
            )
        return value


class Allowance(BaseModel):
    """What a token may spend and on what (see the module docstring). The defaults limit nothing."""

    model_config = ConfigDict(frozen=True)

    rules: tuple[TokenRule, ...] = Field(
        (), description="the token's own limits: requests, tokens or USD per period, over all gateways"
    )
    models: tuple[ModelName, ...] | None = Field(
        None,
        min_length=1,
        description="the models it may request (a trailing * matches any ending); absent: any",
    )
    providers: tuple[ProviderName, ...] | None = Field(
        None, min_length=1, description="the providers it may reach; absent: any"
    )
    metadata: dict[MetadataKey, MetadataValue] = Field(
        default_factory=dict,
        max_length=MAX_METADATA,
        description="merged into each request's cf-aig-metadata; the token's values win",
    )

    def allowance(self) -> dict[str, Any]:
        """These fields' values, to copy onto a token (`model_copy(update=…)`)."""
        return {name: getattr(self, name) for name in Allowance.model_fields}

    @property
    def restricts(self) -> bool:
        """Whether a request can be refused for its provider or model."""
        return self.models is not None or self.providers is not None

    def limited_by(self) -> tuple[str, ...]:
        """The fields that limit this token (`models`, `providers`, `rules`); empty: none does."""
        named = tuple(name for name in ("models", "providers") if getattr(self, name) is not None)
        return (*named, "rules") if self.rules else named

    def refusal(self, provider: str, model: str | None, method: str) -> str | None:
        """Why this token may not send a request to `model` of `provider` (None: it may)."""
        if self.providers is not None and provider not in self.providers:
            return f"this token may use the providers {_listed(self.providers)}, not {provider!r}"
        if self.models is None:
            return None
        if model is None:
            if method not in _BILLED_METHODS:
                return None
            return f"this token may use the models {_listed(self.models)}, and the request names no model"
        if not any(covers(allowed, model) for allowed in self.models):
            return f"this token may use the models {_listed(self.models)}, not {model!r}"
        return None

    def widened_by(self, other: Allowance) -> str | None:
        """What a token created with `other` would be allowed that this one is not (None: nothing)."""
        if self.rules:
            return (
                "this token has rules of its own, and the use of a token it created would not count"
                " against them, so it cannot create tokens"
            )
        for name in ("models", "providers"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is None:
                continue
            if theirs is None:
                return (
                    f"this token may use the {name} {_listed(mine)}, so a token it creates must list"
                    f" some of them in `{name}`"
                )
            wider = [item for item in theirs if not any(covers(allowed, item) for allowed in mine)]
            if wider:
                return f"this token may use the {name} {_listed(mine)}, not {_listed(wider)}"
        for key, value in self.metadata.items():
            if other.metadata.get(key) != value:
                return (
                    f"this token sets metadata {key}={value!r} on its requests, so a token it creates must"
                    f" set the same in `metadata`"
                )
        return None


class AllowanceChange(Allowance):
    """An allowance an admin writes (a token created or changed): its metadata may not name a key
    the gateway writes into the record itself (`reserved.py`), which every request of the token
    would otherwise carry into the logs (`cost_source: provider` on a table price, a fake `route`).
    Checked here and not on `Allowance`, which stored tokens are read back through: one stored
    before the check must still load (the request path drops its reserved keys: pipeline/auth.py)."""

    @field_validator("metadata")
    @classmethod
    def _no_reserved_keys(cls, value: dict[str, MetadataValue]) -> dict[str, MetadataValue]:
        if reserved := reserved_in(value):
            raise ValueError(
                f"{', '.join(map(repr, reserved))} is written by the gateway itself; use another key"
            )
        return value


def covers(allowed: str, model: str) -> bool:
    """Whether an allow-list entry admits `model`: equal, or a prefix ending in `*`."""
    if allowed.endswith("*"):
        return model.startswith(allowed[:-1])
    return model == allowed


def _listed(items: tuple[str, ...] | list[str]) -> str:
    return ", ".join(map(repr, items))
