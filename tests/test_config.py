"""Settings from defaults, a TOML file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from sluicegate.config import ConfigError, given_as, load_settings


def test_defaults() -> None:
    settings = load_settings(environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 8787)
    assert settings.limits.max_body_bytes == 10 * 1024 * 1024
    assert settings.timeouts.upstream_timeout == 600  # the OpenAI and Anthropic SDKs' own default
    assert settings.resolved_database_url == "sqlite:///data/sluicegate.db"


def test_environment_overrides_and_upstreams() -> None:
    settings = load_settings(
        environ={
            "SLUICEGATE_PORT": "9001",
            "SLUICEGATE_DATA": "/srv/gw",
            "SLUICEGATE_UPSTREAM_OPENAI": "http://127.0.0.1:9000/v1",
            "SLUICEGATE_UPSTREAM_WORKERS_AI": "http://127.0.0.1:9001",
            "UNRELATED": "x",
        }
    )
    assert settings.port == 9001
    assert settings.resolved_database_url == "sqlite:////srv/gw/sluicegate.db"
    assert settings.upstreams == {"openai": "http://127.0.0.1:9000/v1", "workers-ai": "http://127.0.0.1:9001"}


def test_toml_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(
        'port = 9100\nmax_body_bytes = 2048\n[upstreams]\nopenai = "http://a/v1"\nmistral = "http://m"\n'
    )
    settings = load_settings(
        environ={
            "SLUICEGATE_CONFIG": str(config),
            "SLUICEGATE_PORT": "9200",
            "SLUICEGATE_UPSTREAM_OPENAI": "http://b/v1",
        }
    )
    assert settings.port == 9200
    assert settings.limits.max_body_bytes == 2048
    assert settings.upstreams == {"openai": "http://b/v1", "mistral": "http://m"}


@pytest.mark.parametrize(
    ("environ", "key"),
    [({"SLUICEGATE_PORT": "eighty"}, "port"), ({"SLUICEGATE_MAX_BODY_BYTES": "-1"}, "max_body_bytes")],
)
def test_errors_name_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        load_settings(environ=environ)


def test_bad_config_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("port = = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(environ={"SLUICEGATE_CONFIG": str(broken)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(environ={"SLUICEGATE_CONFIG": str(tmp_path / "missing.toml")})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("colour = 'blue'")
    with pytest.raises(ConfigError, match="colour"):
        load_settings(environ={"SLUICEGATE_CONFIG": str(unknown)})


def test_custom_providers_from_toml_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text(
        '[custom_providers]\nlocal-vllm = "http://127.0.0.1:8000/v1"\nollama = "http://127.0.0.1:11434/v1"\n'
    )
    settings = load_settings(
        environ={
            "SLUICEGATE_CONFIG": str(config),
            "SLUICEGATE_CUSTOM_PROVIDERS": '{"ollama": "http://gpu-box:11434/v1", "llama-cpp": "http://h:8080/v1"}',
        }
    )
    assert settings.custom_providers == {
        "local-vllm": "http://127.0.0.1:8000/v1",
        "ollama": "http://gpu-box:11434/v1",
        "llama-cpp": "http://h:8080/v1",
    }
    assert load_settings(environ={}).custom_providers == {}


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ('{"Local_VLLM": "http://h/v1"}', "not a slug"),
        ('{"openai": "http://h/v1"}', "already a provider"),
        ('{"compat": "http://h/v1"}', "already a provider"),
        ('{"local": "h:8000/v1"}', "no http:// or https://"),
        ('{"local": 8000}', "custom_providers.local"),
    ],
)
def test_bad_custom_providers_name_the_key(custom: str, message: str) -> None:
    with pytest.raises(ConfigError, match="custom_providers") as caught:
        load_settings(environ={"SLUICEGATE_CUSTOM_PROVIDERS": custom})
    assert message in str(caught.value)


@pytest.mark.parametrize("custom", ["{oops", '["http://h/v1"]'])
def test_custom_providers_env_must_be_a_json_object(custom: str) -> None:
    with pytest.raises(ConfigError, match="SLUICEGATE_CUSTOM_PROVIDERS"):
        load_settings(environ={"SLUICEGATE_CUSTOM_PROVIDERS": custom})


def test_the_upstream_timeout_variable_is_the_timeout_not_a_provider_url() -> None:
    settings = load_settings(environ={"SLUICEGATE_UPSTREAM_TIMEOUT": "7.5"})
    assert settings.timeouts.upstream_timeout == 7.5
    assert "timeout" not in settings.upstreams


def test_every_setting_has_its_variable_and_older_names_still_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICEGATE_PORT", "9300")  # the process environment, ignored when one is handed in
    settings = load_settings(
        environ={
            "SLUICEGATE_HOST_GATEWAY": "acme/edge",
            "SLUICEGATE_DATA": "/srv/gw",
            "SLUICEGATE_TOKEN": "cli",
        }
    )
    assert (settings.host_gateway, settings.data_dir, settings.port) == ("acme/edge", Path("/srv/gw"), 8787)
    assert load_settings(environ={"SLUICEGATE_DATA_DIR": "/srv/other"}).data_dir == Path("/srv/other")
    assert load_settings().port == 9300


def test_list_and_object_variables(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[host_overrides]\n"a.example" = "http://127.0.0.1:1"\n')
    settings = load_settings(
        environ={
            "SLUICEGATE_CONFIG": str(config),
            "SLUICEGATE_ALLOWED_HOSTS": "a.example, b.example,",
            "SLUICEGATE_HOST_OVERRIDES": '{"b.example": "http://127.0.0.1:2"}',
        }
    )
    assert settings.allowed_hosts == ["a.example", "b.example"]
    assert settings.host_overrides == {"a.example": "http://127.0.0.1:1", "b.example": "http://127.0.0.1:2"}
    with pytest.raises(ConfigError, match="SLUICEGATE_HOST_OVERRIDES"):
        load_settings(environ={"SLUICEGATE_HOST_OVERRIDES": "[1]"})


def test_split_settings_follow_the_one_they_were_split_from(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text("max_body_bytes = 2048\n[timeouts]\nupstream_timeout = 60\ncoalesce_wait = 5\n")
    settings = load_settings(environ={"SLUICEGATE_CONFIG": str(config)})
    assert (settings.limits.cache_entry_bytes, settings.limits.log_tee_bytes) == (2048, 2048)
    assert (settings.timeouts.retry_deadline, settings.timeouts.coalesce_wait) == (60, 5)
    defaults = load_settings(environ={})
    assert defaults.limits.cache_entry_bytes == defaults.limits.max_body_bytes == 10 * 1024 * 1024
    assert defaults.timeouts.retry_deadline == defaults.timeouts.coalesce_wait == 600


def test_grouped_and_older_names_reach_the_same_setting(tmp_path: Path) -> None:
    environ = {
        "SLUICEGATE_LOG_BATCH_SIZE": "7",
        "SLUICEGATE_LIMITS__CACHE_ENTRY_BYTES": "4096",
        "SLUICEGATE_STORES__CACHE_URL": "redis://127.0.0.1:6379/0",
    }
    settings = load_settings(environ=environ, log_flush_interval=0.5, timeouts={"retry_deadline": 9})
    assert (settings.logs.batch_size, settings.logs.flush_interval) == (7, 0.5)
    assert (settings.limits.max_body_bytes, settings.limits.cache_entry_bytes) == (10 * 1024 * 1024, 4096)
    assert settings.stores.cache_url == "redis://127.0.0.1:6379/0"
    assert (settings.timeouts.upstream_timeout, settings.timeouts.retry_deadline) == (600, 9)
    config = tmp_path / "gw.toml"
    config.write_text("[limits]\nlog_tee_bytes = 0\n")
    with pytest.raises(ConfigError, match=r"limits\.log_tee_bytes"):
        load_settings(environ={"SLUICEGATE_CONFIG": str(config)})


@pytest.mark.parametrize(
    "environ",
    [
        {"SLUICEGATE_MAX_BODY_BYTES": "100", "SLUICEGATE_LIMITS__MAX_BODY_BYTES": "200"},
        {"SLUICEGATE_LIMITS__MAX_BODY_BYTES": "200", "SLUICEGATE_MAX_BODY_BYTES": "100"},
    ],
)
def test_an_older_and_a_newer_variable_with_different_values_are_refused_in_either_order(
    environ: dict[str, str],
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert str(caught.value) == (
        "SLUICEGATE_MAX_BODY_BYTES and SLUICEGATE_LIMITS__MAX_BODY_BYTES both set"
        " limits.max_body_bytes, to different values: keep one (SLUICEGATE_MAX_BODY_BYTES is its older name)"
    )
    with pytest.raises(ConfigError, match="SLUICEGATE_DATA and SLUICEGATE_DATA_DIR both set data_dir"):
        load_settings(environ={"SLUICEGATE_DATA_DIR": "/b", "SLUICEGATE_DATA": "/a"})


def test_an_older_and_a_newer_key_with_different_values_are_refused_in_the_file(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text("max_body_bytes = 100\n[limits]\nmax_body_bytes = 200\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SLUICEGATE_CONFIG": str(config)})
    assert str(caught.value) == (
        f"SLUICEGATE_CONFIG: {config}: top-level max_body_bytes and [limits] max_body_bytes both set"
        " limits.max_body_bytes, to different values: keep one (the top-level key is its older name)"
    )
    with pytest.raises(ConfigError, match="top-level max_body_bytes and"):
        load_settings(environ={}, max_body_bytes=100, limits={"max_body_bytes": 200})


def test_an_older_and_a_newer_name_with_the_same_value_are_one_setting(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text("upstream_timeout = 7\n[timeouts]\nupstream_timeout = 7.0\n")
    settings = load_settings(
        environ={
            "SLUICEGATE_CONFIG": str(config),
            "SLUICEGATE_MAX_BODY_BYTES": "200",
            "SLUICEGATE_LIMITS__MAX_BODY_BYTES": "200",
        }
    )
    assert (settings.limits.max_body_bytes, settings.timeouts.upstream_timeout) == (200, 7)


@pytest.mark.parametrize(
    "environ",
    [
        {"SLUICEGATE_UPSTREAM_OPENIA": "http://127.0.0.1:9000/v1"},
        {"SLUICEGATE_UPSTREAMS": '{"openia": "http://127.0.0.1:9000/v1"}'},
    ],
)
def test_an_unknown_provider_in_upstreams_is_refused_naming_the_nearest(environ: dict[str, str]) -> None:
    # Taken, it would leave openai at its public URL: clients' keys would go to api.openai.com.
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert str(caught.value) == (
        "invalid setting upstreams: unknown provider 'openia' in upstreams; did you mean 'openai'?"
    )


def test_an_unknown_provider_in_the_upstreams_table_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text('[upstreams]\nantropic = "http://127.0.0.1:9000"\n')
    with pytest.raises(
        ConfigError, match="unknown provider 'antropic' in upstreams; did you mean 'anthropic'"
    ):
        load_settings(environ={"SLUICEGATE_CONFIG": str(config)})


_NO_SCHEME = "not a URL: no http:// or https:// before the host, such as http://127.0.0.1:8000/v1"
_NO_HOST = "http:// URL without a host, such as http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SLUICEGATE_UPSTREAM_OPENAI": "127.0.0.1:9000/v1"}, f"upstreams: openai: {_NO_SCHEME}"),
        ({"SLUICEGATE_UPSTREAM_GROQ": "http:///v1"}, f"upstreams: groq: {_NO_HOST}"),
        ({"SLUICEGATE_CUSTOM_PROVIDERS": '{"vllm": "http://"}'}, f"custom_providers: vllm: {_NO_HOST}"),
        (
            {"SLUICEGATE_HOST_OVERRIDES": '{"api.openai.com": "ftp://mirror"}'},
            "host_overrides: api.openai.com: scheme 'ftp' (ftp://mirror) is not http or https,"
            " such as http://127.0.0.1:8000/v1",
        ),
        ({"SLUICEGATE_OTLP_ENDPOINT": "127.0.0.1:4318"}, f"telemetry.otlp_endpoint: {_NO_SCHEME}"),
        (
            {"SLUICEGATE_TELEMETRY__OTLP_LOGS_ENDPOINT": "localhost:4318"},
            f"telemetry.otlp_logs_endpoint: {_NO_SCHEME}",
        ),
    ],
)
def test_base_urls_without_an_http_scheme_or_a_host_are_refused(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert str(caught.value) == f"invalid setting {message}"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("alice:s3cret@127.0.0.1:9000/v1?api-key=k3y", "no http:// or https:// before the host"),
        (
            "ftp://alice:s3cret@mirror:21/v1?api-key=k3y",
            "scheme 'ftp' (ftp://mirror:21) is not http or https",
        ),
        ("https://alice:s3cret@:443/v1?api-key=k3y", "https:// URL without a host"),
        ("https://alice:s3cret@llm.example:99999/v1?api-key=k3y", "its port is not a number from 0 to 65535"),
        ("https://alice:s3cret@llm.example:4x3/v1?api-key=k3y", "its port is not a number from 0 to 65535"),
        ("https://alice:s3cret@[::1/v1?api-key=k3y", "its host does not parse"),
    ],
)
def test_a_refused_url_is_not_repeated_with_its_credentials(url: str, problem: str) -> None:
    # The message goes to the terminal and the process's logs: the setting and what is wrong, never
    # the URL's userinfo or query.
    for environ in ({"SLUICEGATE_UPSTREAM_OPENAI": url}, {"SLUICEGATE_OTLP_ENDPOINT": url}):
        with pytest.raises(ConfigError) as caught:
            load_settings(environ=environ)
        message = str(caught.value)
        for secret in ("alice", "s3cret", "k3y"):
            assert secret not in message
        assert problem in message


def test_urls_with_a_scheme_and_a_host_are_taken() -> None:
    settings = load_settings(
        environ={
            "SLUICEGATE_UPSTREAM_OPENAI": "https://llm.internal.example/v1",
            "SLUICEGATE_OTLP_ENDPOINT": "http://127.0.0.1:4318",
            "SLUICEGATE_HOST_OVERRIDES": '{"api.openai.com": "http://[::1]:9000"}',
        }
    )
    assert settings.upstreams == {"openai": "https://llm.internal.example/v1"}
    assert settings.telemetry.otlp_endpoint == "http://127.0.0.1:4318"
    assert settings.telemetry.otlp_logs_endpoint == ""  # empty: no OTLP logs


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"SLUICEGATE_LIMITS__MAX_BODY_BYTE": "5"}, "limits.max_body_byte: Extra inputs are not permitted;"
         " did you mean 'limits.max_body_bytes'?"),
        ({"SLUICEGATE_TELEMETRY__OTLP_ENDPONT": "http://h"}, "telemetry.otlp_endpont: Extra inputs are not"
         " permitted; did you mean 'telemetry.otlp_endpoint'?"),
    ],
)  # fmt: skip
def test_an_unknown_key_names_the_nearest_setting(given: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=given)
    assert str(caught.value) == f"invalid setting {message}"


def test_an_unknown_key_in_the_file_names_the_nearest_setting(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text("max_body_byte = 5\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SLUICEGATE_CONFIG": str(config)})
    assert str(caught.value) == (
        "invalid setting max_body_byte: Extra inputs are not permitted; did you mean 'max_body_bytes'?"
    )


def test_an_error_about_a_value_names_where_it_was_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in (
        "SLUICEGATE_CONFIG",
        "SLUICEGATE_CACHE_URL",
        "SLUICEGATE_STORES__CACHE_URL",
        "SLUICEGATE_DATA",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SLUICEGATE_DATA_DIR", raising=False)
    assert (given_as("stores.cache_url"), given_as("data_dir")) == ("SLUICEGATE_CACHE_URL", "SLUICEGATE_DATA")
    config = tmp_path / "gw.toml"
    config.write_text('data_dir = "/srv"\ndatabase_url = "sqlite:///x"\n[stores]\ncache_url = "mysql://x"\n')
    monkeypatch.setenv("SLUICEGATE_CONFIG", str(config))
    assert [given_as(key) for key in ("stores.cache_url", "stores.database_url", "data_dir", "port")] == [
        f"[stores] cache_url in {config}",
        f"database_url in {config}",  # its older, top-level key
        f"data_dir in {config}",
        "SLUICEGATE_PORT",  # not given: its variable
    ]
    monkeypatch.setenv("SLUICEGATE_STORES__CACHE_URL", "mysql://y")  # the environment wins over the file
    monkeypatch.setenv("SLUICEGATE_DATA", "/srv/gw")
    assert (given_as("stores.cache_url"), given_as("data_dir")) == (
        "SLUICEGATE_STORES__CACHE_URL",
        "SLUICEGATE_DATA",
    )
