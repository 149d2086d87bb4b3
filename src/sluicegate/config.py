"""Settings: one frozen object, loaded once by pydantic-settings from defaults, an optional TOML file
and the environment; grouped by meaning in config_groups.py.

Precedence: values given in code > environment > TOML file (`SLUICEGATE_CONFIG`) > defaults. Tables
(upstreams, custom providers, host overrides) merge key by key across them. Errors name the offending key.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.sources.utils import parse_env_vars

from sluicegate.config_groups import (
    MOVED,
    ConflictingKeys,
    Limits,
    Logs,
    Stores,
    Telemetry,
    Timeouts,
    http_url,
    nest,
)
from sluicegate.hints import closest, did_you_mean
from sluicegate.providers import REGISTRY

ENV_PREFIX = "SLUICEGATE_"
UPSTREAM_ENV_PREFIX = "SLUICEGATE_UPSTREAM_"
CUSTOM_PROVIDERS_ENV = "SLUICEGATE_CUSTOM_PROVIDERS"
HOST_OVERRIDES_ENV = ENV_PREFIX + "HOST_OVERRIDES"
ALLOWED_HOSTS_ENV = ENV_PREFIX + "ALLOWED_HOSTS"
# Path segments that are not providers: Cloudflare's OpenAI-compatible endpoint lives at /compat/.
RESERVED_PROVIDER_NAMES = frozenset({"compat"})
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")

# SLUICEGATE_<KEY> reaches each top-level setting, SLUICEGATE_<GROUP>__<KEY> each grouped one; these
# older names keep working.
_ENV_RENAMED = {
    "DATA": "DATA_DIR",
    **{old.upper(): f"{group}__{name}".upper() for old, (group, name) in MOVED.items()},
}
# Settings that the environment gives as a JSON object.
_JSON_OBJECT_FIELDS = frozenset({"host_overrides", "custom_providers"})
# The environment `load_settings` reads from: os.environ unless a test hands it another.
_ENVIRON: ContextVar[Mapping[str, str]] = ContextVar("environ")


class ConfigError(Exception):
    """The configuration is invalid; the message names the key."""


class Settings(BaseSettings):
    """Every knob of one gateway process. Frozen: built once by `load_settings`, then passed in."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter="__"
    )

    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(8787, ge=0, le=65535, description="port to listen on")
    data_dir: Path = Field(
        Path("data"),
        description="data directory (SQLite database, semantic index), relative to the working dir",
    )
    secret_key: str = Field("", repr=False, description="master key that seals stored provider keys")
    admin_token: str = Field("", repr=False, description="the bootstrap admin token (else one is generated)")
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
    limits: Limits = Field(default_factory=Limits, description="how big things may be")
    timeouts: Timeouts = Field(default_factory=Timeouts, description="how long things may take")
    stores: Stores = Field(default_factory=Stores, description="the database, exact cache and counters")
    logs: Logs = Field(default_factory=Logs, description="the request log")
    telemetry: Telemetry = Field(default_factory=Telemetry, description="traces, OTLP logs, metrics")
    upstreams: dict[str, str] = Field(
        default_factory=dict,
        description="provider name -> base URL (an http(s) URL); a name that is no built-in provider is"
        " refused, since a misspelt one would leave the provider at its public URL",
    )
    workers_ai_account_id: str = Field(
        "",
        pattern=r"^([0-9a-fA-F]{32})?$",
        examples=["023e105f4ecef8ad9ca31a8372d0c353"],
        description="the Cloudflare account id Workers AI requests run in (…/client/v4/accounts/{id}/ai/…);"
        " empty: the URL's account segment, which must then be a Cloudflare account id (else a 400)"
        " when Workers AI's upstream is api.cloudflare.com",
    )
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
            _base_url(name, url)
        return value

    @field_validator("upstreams")
    @classmethod
    def _upstreams_are_providers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if name not in REGISTRY:
                # Taken, the typo would leave the provider at its public URL, with the clients' keys.
                raise ValueError(f"unknown provider {name!r} in upstreams{did_you_mean(name, REGISTRY)}")
            _base_url(name, url)
        return value

    @field_validator("host_overrides")
    @classmethod
    def _overrides_are_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for host, url in value.items():
            _base_url(host, url)
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Strongest first: values given in code, the environment, the TOML file, then the defaults."""
        environ = _ENVIRON.get(os.environ)
        sources: list[PydanticBaseSettingsSource] = [init_settings, _Environment(settings_cls, environ)]
        if config_path := environ.get(ENV_PREFIX + "CONFIG"):
            sources.append(_TomlFile(settings_cls, toml_file=Path(config_path)))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.stores.database_url or f"sqlite:///{self.data_dir / 'sluicegate.db'}"


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings from the TOML file named by SLUICEGATE_CONFIG, the environment and overrides."""
    token = _ENVIRON.set(os.environ if environ is None else environ)
    try:
        return Settings(**nest(overrides))
    except ConflictingKeys as exc:
        raise ConfigError(str(exc)) from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {_problem(e)}" for e in exc.errors())
        raise ConfigError(f"invalid setting {problems}") from exc
    finally:
        _ENVIRON.reset(token)


def given_as(key: str) -> str:
    """Where the setting `key` (`data_dir`, `stores.cache_url`) was given, for an error about its
    value: the environment variable that set it, else its key in the `SLUICEGATE_CONFIG` file, else
    its first variable (the name docs/configuration.md shows first: `SLUICEGATE_CACHE_URL`)."""
    group, _, name = key.rpartition(".")
    canonical = ENV_PREFIX + key.replace(".", "__").upper()
    variables = [ENV_PREFIX + old for old, new in _ENV_RENAMED.items() if ENV_PREFIX + new == canonical]
    variables.append(canonical)
    for variable in variables:
        if variable in os.environ:
            return variable
    if path := os.environ.get(ENV_PREFIX + "CONFIG"):
        try:
            with Path(path).open("rb") as file:
                table = tomllib.load(file)
        except (OSError, ValueError):
            table = {}
        if isinstance(table.get(group), dict) and name in table[group]:
            return f"[{group}] {name} in {path}"
        older = [old for old, moved in MOVED.items() if moved == (group, name)]
        for top in [*older, name] if not group else older:
            if top in table:
                return f"{top} in {path}"
    return variables[0]


class _Environment(EnvSettingsSource):
    """SLUICEGATE_<KEY> for each setting, read from the given environment, plus the variables with a
    form of their own: one SLUICEGATE_UPSTREAM_<PROVIDER> per provider, comma-separated hosts, JSON
    objects whose errors name the variable."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        names = {ENV_PREFIX + old: ENV_PREFIX + new for old, new in _ENV_RENAMED.items()}
        renamed: dict[str, str] = {}
        given_as: dict[str, str] = {}  # the variable each value came from
        for name, value in self._environ.items():
            new = names.get(name, name)
            if new in renamed and renamed[new] != value:
                # Which one wins would depend on the order of the environment: refuse both.
                older, newer = sorted((name, given_as[new]), key=lambda n: n in names.values())
                setting = new.removeprefix(ENV_PREFIX).lower().replace("__", ".")
                raise ConfigError(
                    f"{older} and {newer} both set {setting}, to different values: keep one"
                    f" ({older} is its older name)"
                )
            renamed[new], given_as[new] = value, name
        return parse_env_vars(renamed, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        if value is not None and field_name in _JSON_OBJECT_FIELDS:
            return _json_object(ENV_PREFIX + field_name.upper(), value)
        if value is not None and field_name == "allowed_hosts":
            return [host.strip() for host in value.split(",") if host.strip()]
        return super().prepare_field_value(field_name, field, value, value_is_complex)

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        settings = {ENV_PREFIX + name.upper() for name in self.settings_cls.model_fields}
        settings |= {ENV_PREFIX + old for old in _ENV_RENAMED}
        # A setting's own variable first: SLUICEGATE_UPSTREAM_TIMEOUT is the timeout, not the URL
        # of a provider called `timeout`.
        upstreams = {
            provider_from_env_suffix(name[len(UPSTREAM_ENV_PREFIX) :]): value
            for name, value in self._environ.items()
            if name.startswith(UPSTREAM_ENV_PREFIX) and name not in settings
        }
        if upstreams:
            values["upstreams"] = {**values.get("upstreams", {}), **upstreams}
        return values


class _TomlFile(TomlConfigSettingsSource):
    """The file named by SLUICEGATE_CONFIG; unlike pydantic-settings' own, a missing file is an error."""

    def _read_files(self, files: Any, deep_merge: bool = False) -> dict[str, Any]:
        path = Path(files)
        try:
            with path.open("rb") as file:
                return nest(tomllib.load(file))
        except ConflictingKeys as exc:
            raise ConfigError(f"SLUICEGATE_CONFIG: {path}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"SLUICEGATE_CONFIG: cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"SLUICEGATE_CONFIG: {path} is not valid TOML: {exc}") from exc


def _base_url(name: str, url: str) -> None:
    try:
        http_url(url)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _problem(error: ErrorDetails) -> str:
    """What is wrong, without pydantic's "Value error, " before our own messages, and with the
    nearest setting for an unknown key."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"] == "extra_forbidden":
        *group, key = map(str, error["loc"])
        guess = closest(key, _known_keys(group))
        if guess is not None:
            return f"{error['msg']}; did you mean {'.'.join([*group, guess])!r}?"
    return error["msg"]


def _known_keys(group: list[str]) -> list[str]:
    """The keys a table takes: the top level's (older names too), or a group's."""
    if not group:
        return [*Settings.model_fields, *MOVED]
    field = Settings.model_fields.get(group[0])
    model = field.annotation if field is not None and len(group) == 1 else None
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


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
