"""`sluicegate keys list|set|update|remove` against a running gateway, as a user runs it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cli import run_cli, table_rows

SECRET = "sk-cli-stored-0123456789abcdef"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], data_dir: Path) -> Iterator[RunningGateway]:
    with FakeOpenAI().serve() as fake:
        yield make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-tests")


def test_keys_are_stored_from_stdin_listed_updated_and_removed(gw: RunningGateway, data_dir: Path) -> None:
    remote = ("--url", gw.url, "--token", gw.settings.admin_token)
    stored = run_cli(data_dir, "keys", "set", "openai", "main", "--weight", "3", *remote, stdin=SECRET + "\n")
    assert stored.stdout.startswith("stored openai key main (weight 3, hmac:"), stored.stderr
    assert SECRET not in stored.stdout + stored.stderr
    run_cli(data_dir, "keys", "set", "openai", *remote, stdin=SECRET + "\n")  # the default key
    updated = run_cli(data_dir, "keys", "update", "openai", "main", "--disable", *remote)
    assert updated.stdout.strip() == "openai key main: weight 3, disabled"

    listed = run_cli(data_dir, "keys", "list", *remote)
    rows = [row[:4] for row in table_rows(listed.stdout) if row[0]]  # (long cells wrap onto more rows)
    assert rows == [["openai", "default", "1", "ok"], ["openai", "main", "3", "disabled"]]
    assert SECRET not in listed.stdout
    removed = run_cli(data_dir, "keys", "remove", "openai", "main", *remote)
    assert removed.stdout.strip() == "removed openai key main from gateway default"
    assert [
        k["name"]
        for k in gw.http.get("/api/v1/accounts/local/gateways/default/provider-keys").json()["result"]
    ] == ["default"]
    missing = run_cli(data_dir, "keys", "remove", "openai", "main", *remote)
    assert missing.returncode == 1
    assert "no stored openai key named 'main'" in missing.stderr
