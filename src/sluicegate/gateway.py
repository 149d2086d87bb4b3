"""Gateways: an account's named entry points, each with its own settings and logs."""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Collection
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from sluicegate.errors import RouteMisconfigured
from sluicegate.guardrails.policy import GuardrailsPolicy
from sluicegate.redaction import compile_pattern
from sluicegate.types import Backoff

if TYPE_CHECKING:
    from sluicegate.routing.route import Route

_log = logging.getLogger(__name__)

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
SCOPE_PATTERN = r"^(gateway|token|provider|model|metadata\.[A-Za-z0-9_.-]{1,64})$"
_SCOPE_RE = re.compile(SCOPE_PATTERN)
_SCOPES = ("gateway", "token", "provider", "model")
_SLUG_RE = re.compile(SLUG_PATTERN)

DEFAULT_ACCOUNT = "local"
DEFAULT_GATEWAY = "default"
DEFAULT_RESERVE = 1024
MAX_RETENTION_DAYS = 36525  # 100 years
# A similarity threshold of these read as a percentage (Fastly's 0.75 sent as 75): a useful
# threshold is a high similarity, so 1.5 or 20 is not one written as a percentage.
_PERCENT_THRESHOLDS = (50.0, 100.0)


def plain(value: float) -> str:
    """A number as people read it: `30`, `4.5`, `0.00001` — never `1e-05`, at most 10 significant digits."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = f"{value:.10g}"
    # Only an exponent needs Decimal (several microseconds: each budget-limited answer shows two).
    return format(Decimal(text), "f") if "e" in text else text


def threshold_meant(threshold: float) -> str | None:
    """The fraction a similarity threshold written as a percentage probably meant (`75`: `0.75`),
    for `semantic_threshold` and `x-semantic-threshold` alike; None for any other value."""
    low, high = _PERCENT_THRESHOLDS
    return f"{round(threshold / 100, 4):g}" if low <= threshold <= high else None


class RateLimitRule(BaseModel):
    """At most `limit` requests, tokens or USD per `period` seconds, per value of `scope`.

    `scope`: `gateway` (one bucket), `token` (per gateway token), `provider`, `model`, or
    `metadata.<field>` (per value of that `cf-aig-metadata` field, e.g. `metadata.user`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field("", max_length=100, description="shown in the 429 error; derived when empty")
    limit: float = Field(gt=0, description="requests, tokens or USD (see unit) admitted per period")
    period: int = Field(gt=0, le=366 * 24 * 3600, description="seconds")
    technique: Literal["fixed", "sliding"] = Field(
        "fixed", description="fixed windows, or sliding: never more than limit in any period-long window"
    )
    unit: Literal["requests", "tokens", "cost"] = Field(
        "requests", description="what is counted; tokens and cost are charged with each answer's usage"
    )
    scope: str = Field(
        "gateway",
        pattern=SCOPE_PATTERN,
        description="one counter for the gateway, or one per token, provider, model or metadata.<field>; "
        "requests without one (no token, model or such metadata field) share one counter of their own",
    )
    reserve: int = Field(
        DEFAULT_RESERVE,
        ge=0,
        le=10_000_000,
        description="tokens and cost rules: output tokens reserved for a request that sets no cap on "
        "its answer (max_tokens, max_completion_tokens, Gemini's maxOutputTokens, ...), until its real "
        "usage is known; embeddings reserve none",
    )
    counter: str = Field(
        "",
        max_length=100,
        description="kept by the gateway: the rule's counter, which follows the rule when rules are "
        "added, removed or moved, and starts afresh when the rule is changed",
        json_schema_extra={"readOnly": True},
    )

    def shown(self) -> dict[str, Any]:
        """The rule as a refusal or a report shows it: its counter is the gateway's own business."""
        return self.model_dump(exclude={"counter"})

    @field_validator("scope", mode="before")
    @classmethod
    def _scope_named(cls, scope: Any) -> Any:
        """A scope that is none of the forms, refused with the one probably meant: `user` (or
        `metdata.user`) is `metadata.user` (a request's metadata field), `modle` is `model`."""
        if not isinstance(scope, str) or _SCOPE_RE.fullmatch(scope):
            return scope
        head, dot, rest = scope.partition(".")  # `metdata.user`: `metadata.` misspelt, not a field
        near = dot and difflib.get_close_matches(head.lower(), ["metadata"], n=1, cutoff=0.6)
        field = (rest if near else scope).strip()
        if keyword := difflib.get_close_matches(scope, _SCOPES, n=1, cutoff=0.6):  # (hints.py imports this)
            meant = f"; did you mean {keyword[0]!r}?"
        elif re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", field):
            meant = f"; did you mean 'metadata.{field}' (a counter per value of that cf-aig-metadata field)?"
        else:
            meant = "; a metadata field's name is 1 to 64 letters, digits, '_', '.' or '-'"
        raise PydanticCustomError(
            "rule_scope",
            "{scope} is no scope: gateway, token, provider, model or metadata.<field>{meant}",
            {"scope": repr(scope), "meant": meant},
        )

    @property
    def label(self) -> str:
        unit = "USD" if self.unit == "cost" else self.unit
        return (
            self.name
            or f"{plain(self.limit)} {unit} per {self.period} s ({self.technique}, per {self.scope})"
        )


class FallbackPrice(BaseModel):
    """The price of a model that neither the price table nor a `cf-aig-custom-cost` header prices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: float = Field(ge=0, allow_inf_nan=False, description="USD per million input tokens")
    output_per_mtok: float = Field(ge=0, allow_inf_nan=False, description="USD per million output tokens")


class GatewaySettings(BaseModel):
    """Per-gateway behaviour. Every field has a default, so `{}` is a valid settings object."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    authentication: bool = Field(
        False, description="require a gateway token with the run scope on proxy requests"
    )
    collect_logs: bool = Field(True, description="store a log record for each request")
    collect_payloads: bool = Field(True, description="store request and response bodies in log records")
    retention_days: float = Field(
        30,
        gt=0,
        le=MAX_RETENTION_DAYS,
        description="log records older than this are deleted (at most 100 years)",
    )
    max_records: int | None = Field(None, gt=0, description="at most this many log records are kept")
    on_max_records: Literal["delete_oldest", "stop"] = Field(
        "delete_oldest", description="when max_records is reached: delete the oldest, or stop inserting"
    )
    redact_paths: list[str] = Field(
        default_factory=list,
        description="JSON paths redacted from stored bodies, e.g. messages.*.content ('*': any item)",
    )
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="regular expressions (RE2 syntax) redacted from stored bodies (e.g. e-mail addresses)",
    )
    request_timeout_ms: int | None = Field(
        None, gt=0, description="default time for each attempt until its response starts"
    )
    cache_enabled: bool = Field(False, description="answer identical requests from the cache")
    cache_ttl: int = Field(300, ge=60, le=30 * 24 * 3600, description="default seconds a cached answer lives")
    cache_invalidate_on_update: bool = Field(
        False,
        description="purge the gateway's cached answers (exact and semantic) whenever its settings change",
    )
    semantic_cache_enabled: bool = Field(False, description="answer similar questions from the cache")
    semantic_threshold: float = Field(
        0.90,
        ge=0,
        le=1,
        description="cosine similarity a hit needs (then verification); see make eval-semantic",
    )
    semantic_shadow_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="share of semantic hits whose request is also sent upstream after the answer, to "
        "compare the fresh answer with the cached one (shadow mode; 0: off); see docs/semantic-cache.md",
    )
    semantic_shadow_per_minute: int = Field(
        10, ge=1, le=10_000, description="at most this many shadow requests per minute (per replica)"
    )
    semantic_max_error: float | None = Field(
        None,
        ge=0.001,
        le=0.5,
        description="raise the threshold above semantic_threshold while more than this share of "
        "shadow-checked hits disagree with a fresh answer (e.g. 0.02; needs semantic_shadow_rate)",
    )
    cache_per_key: bool = Field(
        True,
        description="keep separate cache entries per provider key the client brings, as Cloudflare "
        "does (false: every client of the gateway shares the entries, whatever key it sends)",
    )
    rate_limits: list[RateLimitRule] = Field(
        default_factory=list, description="all apply; the strictest decides"
    )
    fallback_price: FallbackPrice | None = Field(
        None, description="prices models the price table does not know (else their cost is unknown)"
    )
    allow_unpriced: bool = Field(
        False,
        description="admit requests for models without a known price where a cost rule applies "
        "(their cost counts as nothing); by default they are refused",
    )
    max_attempts: int = Field(1, ge=1, le=5, description="default tries per step (retries + 1)")
    retry_delay_ms: int = Field(100, ge=0, le=5000, description="default base wait between retries")
    backoff: Backoff = Field(Backoff.CONSTANT, description="default growth of the wait between retries")
    guardrails: GuardrailsPolicy | None = Field(
        None,
        description="detect personal data, secrets and prompt injection in requests and answers, "
        "and block, redact or flag them (see issue 24)",
    )
    routes: dict[str, Any] = Field(
        default_factory=dict,
        description='dynamic routes: name -> node, used as "model": "dynamic/<name>" (docs/routing.md)',
    )
    route_versions: dict[str, int] = Field(
        default_factory=dict,
        description="each route's current version; kept by the gateway (whatever a client sends is replaced)",
        json_schema_extra={"readOnly": True},
    )
    # Route name -> (the node it was parsed from, the route or its problems): filled as routes are
    # asked for.
    _parsed_routes: dict[str, tuple[Any, Route | str]] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: Any, /) -> None:
        """Routes sent by a client are checked here (a bad one raises RouteInvalid, a 400 naming
        its path), except those the context's `valid_routes` holds unchanged: a route PUT checks
        the one route it sets, not the gateway's other 99. Stored settings (`stored` context) were
        checked when set, so their routes are parsed one by one when a request names them. With
        the context's `providers` (every provider the account's requests may name), a target
        naming another is refused too."""
        context = context if isinstance(context, dict) else {}
        if self.routes and not context.get("stored"):
            # Imported here: the routing engine's nodes are built on RateLimitRule, defined above.
            from sluicegate.routing.route import parse_routes

            known, providers = context.get("valid_routes") or {}, context.get("providers")
            parsed = parse_routes(self.routes, providers, known)
            self._parsed_routes = {name: (self.routes[name], route) for name, route in parsed.items()}

    def route(self, name: str, gateway: str = "") -> Route | None:
        """Route `name`, parsed the first time it is asked for (the directory keeps a settings
        object while its stored JSON is unchanged, so that is once per change, not per request).

        A stored route that does not parse (stored by an older version, or edited in the database)
        raises `RouteMisconfigured`, a 500: the operator's to fix, not the client's. Its problems
        are logged once (naming `gateway`), kept with the parsed routes, and listed by
        `route_errors` for the gateway's admin read."""
        parsed = self._parsed(name, gateway)
        if isinstance(parsed, str):
            raise RouteMisconfigured(
                f"dynamic route {name!r} of this gateway is misconfigured, so it cannot be used; "
                "the gateway's administrator can see why in the gateway's route_errors",
                route=name,
            )
        return parsed

    def route_errors(self, gateway: str = "", providers: Collection[str] | None = None) -> dict[str, str]:
        """Each stored route that cannot be used, and why (every route is parsed, once). With
        `providers` (the account's), a route naming another provider is listed too: a custom
        provider deleted since it was saved."""
        from sluicegate.routing.route import unknown_targets

        errors = {}
        for name in self.routes:
            parsed = self._parsed(name, gateway)
            if isinstance(parsed, str):
                errors[name] = parsed
            elif (
                parsed is not None and providers is not None and (found := unknown_targets(parsed, providers))
            ):
                errors[name] = "; ".join(str(problem) for problem in found)
        return errors

    def _parsed(self, name: str, gateway: str) -> Route | str | None:
        """Route `name`, or its problems; None when there is no such route."""
        node = self.routes.get(name)
        if node is None:
            return None
        found = self._parsed_routes.get(name)
        if found is not None and found[0] is node:  # not a copy whose `routes` were replaced
            return found[1]
        from sluicegate.routing.problems import RouteInvalid
        from sluicegate.routing.route import parse_route

        parsed: Route | str
        try:
            parsed = parse_route(name, node, prefix=f"routes.{name}", stored=True)
        except RouteInvalid as invalid:
            parsed = "; ".join(str(problem) for problem in invalid.problems)
            _log.warning("gateway %s: dynamic route %r cannot be used: %s", gateway or "?", name, parsed)
        self._parsed_routes[name] = (node, parsed)
        return parsed

    @field_validator("semantic_threshold", mode="before")
    @classmethod
    def _threshold_not_a_percentage(cls, threshold: Any) -> Any:
        """A percentage (`75`) is refused with the fraction it probably meant, as the
        `x-semantic-threshold` header's is; any other value is checked by the field's range."""
        if isinstance(threshold, bool) or not isinstance(threshold, int | float | str):
            return threshold
        try:
            meant = threshold_meant(float(threshold))
        except ValueError:  # not a number: the field's own error says so
            return threshold
        if meant is None:
            return threshold
        raise PydanticCustomError(
            "threshold_percentage",
            "must be between 0 and 1, got {got}: did you mean {meant}?",
            {"got": str(threshold).strip(), "meant": meant},
        )

    @field_validator("semantic_max_error")
    @classmethod
    def _error_needs_shadow(cls, bound: float | None, info: ValidationInfo) -> float | None:
        if bound is not None and not info.data.get("semantic_shadow_rate"):
            if info.context and info.context.get("stored"):
                return bound  # inert without shadow verdicts; refused only when set
            raise ValueError(
                "semantic_max_error adapts the threshold from shadow verdicts: set semantic_shadow_rate "
                "above 0 too (e.g. 0.1)"
            )
        return bound

    @field_validator("retention_days", mode="before")
    @classmethod
    def _retention_in_range(cls, days: Any, info: ValidationInfo) -> Any:
        """Past `MAX_RETENTION_DAYS` a retention keeps nothing more and, by 1e303 days, overflowed the
        retention job's cutoff (PostgreSQL's day partitions then went undropped for every gateway).
        Refused when set, with what a number of seconds was meant as; one stored before is kept
        as the most there is."""
        if isinstance(days, bool) or not isinstance(days, int | float) or days <= MAX_RETENTION_DAYS:
            return days
        if info.context and info.context.get("stored"):
            return MAX_RETENTION_DAYS
        seconds = days / 86400
        in_seconds = 1 <= seconds <= MAX_RETENTION_DAYS
        hint = f"; if {plain(days)} is seconds, send {plain(seconds)}" if in_seconds else ""
        raise PydanticCustomError(
            "retention_too_long",
            "at most {most} days (100 years), which keeps every record for as long as the gateway"
            " lives; retention_days counts days{hint}",
            {"most": MAX_RETENTION_DAYS, "hint": hint},
        )

    @field_validator("redact_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        if info.context and info.context.get("stored"):
            return patterns  # checked when set; one RE2 refuses now omits bodies, saying so in `degraded`
        for pattern in patterns:
            compile_pattern(pattern)  # a ValueError naming the pattern, which becomes a 400
        return patterns


class Gateway(BaseModel):
    """A stored gateway. `slug` is its URL segment; `name` is for people."""

    model_config = ConfigDict(frozen=True)

    account: str
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str
    settings: GatewaySettings = GatewaySettings()
    created_at: float
    modified_at: float | None = Field(None, description="when its name or settings last changed")
    version: int = 1  # one more at each change of its name or settings (its ETag: gateway_etags.py)


# Letters NFKD does not split into an ASCII letter and marks, as a slug spells them.
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "ł": "l", "ı": "i"}
)


def slugify(name: str) -> str:
    """A URL slug from a display name: lower case, letters spelt in ASCII (`Ü` → `u`, `é` → `e`,
    `ß` → `ss`: NFKD, the marks dropped), runs of other characters become one `-`."""
    spelt = unicodedata.normalize("NFKD", name.lower().translate(_LETTERS))
    return re.sub(r"[^a-z0-9]+", "-", spelt.encode("ascii", "ignore").decode()).strip("-")[:64].strip("-")


def is_slug(value: str) -> bool:
    return bool(_SLUG_RE.match(value))
