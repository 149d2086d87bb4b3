"""Settings: one frozen object, loaded once from defaults, an optional TOML file and the environment.

Precedence: environment > TOML file (`SLUICEGATE_CONFIG`) > defaults. Errors name the offending key.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sluicegate.providers import REGISTRY

ENV_PREFIX = "SLUICEGATE_"
UPSTREAM_ENV_PREFIX = "SLUICEGATE_UPSTREAM_"
CUSTOM_PROVIDERS_ENV = "SLUICEGATE_CUSTOM_PROVIDERS"
HOST_OVERRIDES_ENV = ENV_PREFIX + "HOST_OVERRIDES"
ALLOWED_HOSTS_ENV = ENV_PREFIX + "ALLOWED_HOSTS"
# Path segments that are not providers: Cloudflare's OpenAI-compatible endpoint lives at /compat/.
RESERVED_PROVIDER_NAMES = frozenset({"compat"})
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")

# Environment variables read as plain settings: env name suffix -> field name.
_ENV_FIELDS = {
    "HOST": "host",
    "PORT": "port",
    "DATA": "data_dir",
    "DATABASE_URL": "database_url",
    "CACHE_URL": "cache_url",
    "CACHE_MAX_BYTES": "cache_max_bytes",
    "RATE_LIMIT_FAILURE": "rate_limit_failure",
    "SECRET_KEY": "secret_key",
    "ADMIN_TOKEN": "admin_token",
    "RETENTION_INTERVAL": "retention_interval",
    "OTLP_ENDPOINT": "otlp_endpoint",
    "OTLP_LOGS_ENDPOINT": "otlp_logs_endpoint",
    "METRICS_REQUIRE_TOKEN": "metrics_require_token",
    "METRICS_MODELS_PER_PROVIDER": "metrics_models_per_provider",
    "MAX_BODY_BYTES": "max_body_bytes",
    "BODY_TIMEOUT": "body_timeout",
    "UPSTREAM_TIMEOUT": "upstream_timeout",
    "CONNECT_TIMEOUT": "connect_timeout",
    "LOG_BATCH_SIZE": "log_batch_size",
    "LOG_FLUSH_INTERVAL": "log_flush_interval",
    "LOG_BODY_LIMIT": "log_body_limit",
    "COUNTERS_FLUSH_INTERVAL": "counters_flush_interval",
    "LOG_SPOOL_MAX_BYTES": "log_spool_max_bytes",
}


class ConfigError(Exception):
    """The configuration is invalid; the message names the key."""


class Settings(BaseModel):
    """Every knob of one gateway process. Frozen: built once by `load_settings`, then passed in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8787, ge=0, le=65535, description="port to listen on")
    data_dir: Path = Field(
        Path("data"),
        description="data directory (SQLite database, semantic index), relative to the working dir",
    )
    database_url: str = Field(
        "", description="sqlite:///path or postgresql://user@host/db[?schema=name]; empty: SQLite in data_dir"
    )
    cache_url: str = Field("", description="redis://… shares the cache between replicas; empty: in-process")
    cache_max_bytes: int = Field(256 * 1024 * 1024, gt=0, description="bytes the in-process cache may hold")
    rate_limit_failure: Literal["open", "closed"] = Field(
        "open",
        description="when the shared rate-limit counters are unreachable: admit (open) or refuse (closed)",
    )
    secret_key: str = Field("", repr=False, description="master key that seals stored provider keys")
    admin_token: str = Field("", repr=False, description="the bootstrap admin token (else one is generated)")
    otlp_endpoint: str = Field(
        "", description="an OTLP/HTTP collector, e.g. http://127.0.0.1:4318: spans per request"
    )
    otlp_logs_endpoint: str = Field(
        "",
        description="an OTLP/HTTP collector, e.g. http://127.0.0.1:4318: an OpenTelemetry log record per"
        " stored request log (POSTed to /v1/logs; attributes only, no headers or bodies)",
    )
    metrics_require_token: bool = Field(
        False, description="/metrics answers only a read token not limited to gateways (Bearer)"
    )
    metrics_models_per_provider: int = Field(
        100, ge=0, description="distinct model labels per provider in /metrics; later ones count as _other"
    )
    retention_interval: float = Field(3600, gt=0, description="seconds between log retention passes")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="hosts reachable by host-in-path besides the known providers; also the only hosts"
        " an account's custom provider may reach over plain http, by IP address or on a port",
    )
    host_overrides: dict[str, str] = Field(
        default_factory=dict, description="host -> base URL actually used (tests, private deployments)"
    )
    host_gateway: str = Field(
        "local/default", pattern=r"^[^/]+/[^/]+$", description="account/gateway for tokenless host-in-path"
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024,
        gt=0,
        description="largest request body (else 413); also the largest answer the cache stores",
    )
    body_timeout: float = Field(
        30.0, gt=0, description="seconds a client has to send a whole request body (else 408)"
    )
    upstream_timeout: float = Field(300.0, gt=0, description="seconds for a whole upstream exchange")
    connect_timeout: float = Field(10.0, gt=0, description="seconds to connect to an upstream")
    log_batch_size: int = Field(500, gt=0, description="log records written per database transaction")
    log_flush_interval: float = Field(0.2, gt=0, description="seconds between log writes")
    log_body_limit: int = Field(256 * 1024, ge=0, description="bytes of each body kept in a log record")
    counters_flush_interval: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="seconds between copies of the in-process rate-limit counters to counters.db"
        " (what settles meanwhile is in the charge journal: neither a kill nor a clean stop loses it)",
    )
    log_spool_max_bytes: int = Field(
        1024 * 1024 * 1024,
        gt=0,
        description="bytes of log records the spool keeps on disk while the database cannot take"
        " them; past it the oldest are dropped",
    )
    upstreams: dict[str, str] = Field(default_factory=dict, description="provider name -> base URL")
    custom_providers: dict[str, str] = Field(
        default_factory=dict,
        description="name -> base URL of an OpenAI-compatible server (vLLM, Ollama, ...)",
    )

    @field_validator("custom_providers")
    @classmethod
    def _custom_providers_are_new_slugs(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not _SLUG.fullmatch(name):
                raise ValueError(f"{name!r} is not a slug (lower-case letters, digits, inner '-')")
            if name in REGISTRY or name in RESERVED_PROVIDER_NAMES:
                raise ValueError(f"{name!r} is already a provider; choose another name")
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{name}: {url!r} is not an http(s) URL")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sluicegate.db'}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the TOML file named by SLUICEGATE_CONFIG, the environment and overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    config_path = env.get(ENV_PREFIX + "CONFIG")
    if config_path:
        values.update(_read_toml(Path(config_path)))
    upstreams = dict(values.get("upstreams", {}))
    for name, value in env.items():
        # A setting's own variable first: SLUICEGATE_UPSTREAM_TIMEOUT is the timeout, not the URL
        # of a provider called `timeout`.
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :] in _ENV_FIELDS:
            values[_ENV_FIELDS[name[len(ENV_PREFIX) :]]] = value
        elif name.startswith(UPSTREAM_ENV_PREFIX):
            upstreams[provider_from_env_suffix(name[len(UPSTREAM_ENV_PREFIX) :])] = value
    values["upstreams"] = upstreams
    if HOST_OVERRIDES_ENV in env:
        values["host_overrides"] = _json_object(HOST_OVERRIDES_ENV, env[HOST_OVERRIDES_ENV])
    if ALLOWED_HOSTS_ENV in env:
        values["allowed_hosts"] = [host.strip() for host in env[ALLOWED_HOSTS_ENV].split(",") if host.strip()]
    if CUSTOM_PROVIDERS_ENV in env:
        from_env = _json_object(CUSTOM_PROVIDERS_ENV, env[CUSTOM_PROVIDERS_ENV])
        custom = values.get("custom_providers", {})
        values["custom_providers"] = {**custom, **from_env} if isinstance(custom, dict) else custom
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid setting {problems}") from exc


def provider_from_env_suffix(suffix: str) -> str:
    """`WORKERS_AI` -> `workers-ai`: provider names are URL slugs, env names can't hold `-`."""
    return suffix.lower().replace("_", "-")


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ConfigError(f"{name}: must be a JSON object of name -> base URL")
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"SLUICEGATE_CONFIG: cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"SLUICEGATE_CONFIG: {path} is not valid TOML: {exc}") from exc
