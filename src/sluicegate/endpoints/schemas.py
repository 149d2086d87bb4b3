"""The admin API's request and response bodies; the OpenAPI schema is generated from these."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar, get_args

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluicegate.allowance import Allowance, AllowanceChange
from sluicegate.endpoints.gateway_etags import etag
from sluicegate.endpoints.log_entry import LogEntry as LogEntry  # the log's bodies, re-exported
from sluicegate.endpoints.log_entry import LogPage as LogPage
from sluicegate.errors import BadRequest
from sluicegate.gateway import SLUG_PATTERN, Gateway, GatewaySettings
from sluicegate.hints import did_you_mean
from sluicegate.routing.keypool import OK, KeyHealth, KeyStatus
from sluicegate.storage.base import AuditEntry, StoredKey
from sluicegate.tokens import Scope, Token

M = TypeVar("M", bound=BaseModel)


class GatewayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    slug: str | None = Field(
        None, pattern=SLUG_PATTERN, description="URL segment; derived from name if unset"
    )
    settings: GatewaySettings = GatewaySettings()


class GatewayUpdate(BaseModel):
    """A partial update: only the fields given change; `settings` merges into the current settings."""

    model_config = ConfigDict(extra="forbid")
    # `settings` is a plain dict here (it merges); name its model so a misplaced setting gets a hint.
    nested: ClassVar[dict[str, type[BaseModel]]] = {"settings": GatewaySettings}

    name: str | None = Field(None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None


class GatewayOut(BaseModel):
    account: str
    slug: str
    name: str
    settings: GatewaySettings
    created_at: float
    modified_at: float | None = Field(None, description="when its name or settings last changed")
    etag: str = Field(
        "",
        description="its version, as the ETag header says it: changed by every change of its name or"
        " settings; sent back in If-Match, a change is made only if no other was made since",
    )
    route_errors: dict[str, str] = Field(
        default_factory=dict,
        description="stored routes that cannot be used (requests naming one get a 500 route_misconfigured)"
        " and why; in the answers about one gateway, not in listings",
    )

    @classmethod
    def of(cls, gateway: Gateway) -> GatewayOut:
        # Its settings object as it is: validating a dump of it again would parse every route.
        fields = {
            name: getattr(gateway, name) for name in cls.model_fields if name not in ("route_errors", "etag")
        }
        errors = gateway.settings.route_errors(f"{gateway.account}/{gateway.slug}")
        return cls(**fields, etag=etag(gateway), route_errors=errors)


class GatewayList(BaseModel):
    result: list[GatewayOut]
    next_cursor: str | None = Field(
        None, description="with `limit`: pass as `cursor` to get the next page; null on the last one"
    )


class ProviderUrl(BaseModel):
    provider: str
    path: str = Field(description="the provider endpoint: append the provider's own API path to it")
    openai_base_path: str | None = Field(
        None,
        description="`base_url` for the openai SDK to reach this provider: its endpoint, or the compat"
        " endpoint (then prefix the model with openai_model_prefix); null when the SDK cannot",
    )
    openai_model_prefix: str = ""


class GatewayUrlList(BaseModel):
    """A gateway's endpoints, as paths from the gateway's origin (`/v1/{account}/{gateway}/…`)."""

    universal_path: str
    compat_path: str = Field(description="the OpenAI-compatible endpoint for every provider")
    result: list[ProviderUrl]


class PurgeResult(BaseModel):
    purged: int


class SpoolStatus(BaseModel):
    """This replica's log spool: answered requests whose records are not in the database yet."""

    backlog_records: int = Field(description="records not in the database yet: in the spool or in memory")
    backlog_bytes: int
    max_bytes: int = Field(description="log_spool_max_bytes: past it the oldest records are dropped")
    dropped_records: int = Field(
        description="records dropped since start: the spool's oldest past max_bytes, and those in"
        " dropped_from_memory"
    )
    failing_since: float | None = Field(
        description="epoch seconds since when the database fails to store records; null while it works"
    )
    behind: bool = Field(
        description="the database fails, or more than a few batches wait: it is not keeping up"
    )
    memory_records: int = Field(
        0, description="of backlog_records, those kept in memory because the spool cannot be written"
    )
    dropped_from_memory: int = Field(
        0, description="of dropped_records, those dropped from memory (over 10,000 kept there)"
    )
    spool_failing_since: float | None = Field(
        None,
        description="epoch seconds since when the spool cannot be written (a full disk): records are"
        " kept in memory, lost if the process is killed; null while it works",
    )


class ReplicaStatus(BaseModel):
    """What the replica that answers says about its own state (each replica has its own)."""

    log_spool: SpoolStatus
    redis_unreachable: int = Field(
        description="features using Redis (exact cache, rate limiter, routing state) that found it"
        " unreachable at their last try"
    )


class TokenCreate(AllowanceChange):
    """A new token: its powers, and what it may spend and on what (`Allowance`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1)
    gateways: list[Annotated[str, Field(pattern=SLUG_PATTERN)]] | None = Field(
        None, min_length=1, description="the gateway slugs it may use; all when absent"
    )
    expires_at: float | None = Field(None, gt=0, description="epoch seconds")
    expires_in: float | None = Field(None, gt=0, description="seconds from now (instead of expires_at)")


class TokenOut(Allowance):
    id: str
    account: str
    name: str
    scopes: list[Scope]
    gateways: list[str] | None
    expires_at: float | None
    created_at: float
    revoked: bool
    hint: str

    @classmethod
    def of(cls, token: Token) -> TokenOut:
        return cls(
            id=token.id,
            account=token.account,
            name=token.name,
            scopes=list(token.scopes),
            gateways=list(token.gateways) if token.gateways is not None else None,
            expires_at=token.expires_at,
            created_at=token.created_at,
            revoked=token.revoked_at is not None,
            hint=token.hint,
            **token.allowance(),
        )


class TokenUpdate(AllowanceChange):
    """A change of a token's name or allowance: only the fields given change (`null` lifts an
    allow-list; `[]` of rules or `{}` of metadata removes them). Its secret and powers stay."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown this once, stored only as a hash")


class TokenList(BaseModel):
    result: list[TokenOut]


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=4096)
    weight: float | None = Field(
        None, gt=0, le=1_000_000, allow_inf_nan=False,
        description="its share of the provider's requests among the gateway's keys (default: kept, else 1)",
    )  # fmt: skip


class KeyUpdate(BaseModel):
    """A stored key's weight, or whether it is used: only the fields given change."""

    model_config = ConfigDict(extra="forbid")

    weight: float | None = Field(None, gt=0, le=1_000_000, allow_inf_nan=False)
    enabled: bool | None = Field(
        None, description="true: back in use (after a 401/403 disabled it); false: out of use until enabled"
    )


class KeyOut(BaseModel):
    provider: str
    name: str = Field(description="the key's name in the provider's pool; the single-key API's is `default`")
    weight: float
    fingerprint: str = Field(
        description="`hmac:` and 12 hex digits of an HMAC-SHA256 of the key under the master key, then its"
        " last 4 characters when it has 20 or more; never the key"
    )
    created_at: float
    status: str = Field("ok", description="ok, cooling (after a 429, until `until`) or disabled")
    until: float | None = Field(None, description="cooling: when the key is used again (epoch seconds)")
    reason: str | None = Field(None, description="why it is cooling or disabled, e.g. upstream answered 401")

    @classmethod
    def of(cls, key: StoredKey, health: KeyHealth = OK) -> KeyOut:
        return cls(
            provider=key.provider,
            name=key.name,
            weight=key.weight,
            fingerprint=key.fingerprint,
            created_at=key.created_at,
            status=health.status.value,
            until=health.until if health.status is KeyStatus.COOLING else None,
            reason=health.reason or None,
        )


class KeyList(BaseModel):
    result: list[KeyOut]


class AuditOut(BaseModel):
    ts: float
    actor: str
    action: str
    target: str
    details: dict[str, Any]


class AuditList(BaseModel):
    result: list[AuditOut]

    @classmethod
    def of(cls, entries: list[AuditEntry]) -> AuditList:
        return cls(
            result=[
                AuditOut(ts=e.ts, actor=e.actor, action=e.action, target=e.target, details=e.details)
                for e in entries
            ]
        )


def parse_body(model: type[M], body: bytes) -> M:
    """A request body as `model`, or a 400 naming the first bad field."""
    try:
        data = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    return validate(model, data)


def validate(model: type[M], data: Any, prefix: str = "", context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
        hint = _extra_hint(model, first["loc"]) if first["type"] == "extra_forbidden" else ""
        raise BadRequest(f"{field or 'body'}: {first['msg']}{hint}", field=field) from exc


def _extra_hint(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """What an unknown key was probably meant as: a field of a nested model (`rate_limits` sent
    beside `settings` instead of inside it), or the closest field name of the model it is in."""
    owner: type[BaseModel] | None = model
    for part in loc[:-1]:
        if owner is not None and isinstance(part, str):
            owner = _nested_models(owner).get(part)
    key = loc[-1]
    if owner is None or not isinstance(key, str):
        return ""
    for name, nested in _nested_models(owner).items():
        if key in nested.model_fields:
            return f'; it belongs under "{name}": send {{"{name}": {{"{key}": …}}}}'
    return did_you_mean(key, owner.model_fields)


def _nested_models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The model's fields whose values are models themselves (also inside a list or an Optional)."""
    found: dict[str, type[BaseModel]] = dict(getattr(model, "nested", {}))
    for name, info in model.model_fields.items():
        for kind in (info.annotation, *get_args(info.annotation)):
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found.setdefault(name, kind)
    return found


def json_response(data: BaseModel | dict[str, Any], status: int = 200) -> web.Response:
    payload = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return web.Response(status=status, body=orjson.dumps(payload), content_type="application/json")
