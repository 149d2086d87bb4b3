"""`sluicegate routes set|get|versions|restore` against a running gateway, as a user runs it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_cli import run_cli, table_rows


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], data_dir: Path) -> Iterator[RunningGateway]:
    with FakeOpenAI().serve() as fake:
        yield make_gateway(upstreams={"openai": fake.base_url})


def test_routes_from_json_and_yaml_files_are_versioned_and_restored(
    gw: RunningGateway, data_dir: Path, tmp_path: Path
) -> None:
    remote = ("--url", gw.url, "--token", gw.settings.admin_token)
    first = tmp_path / "support.json"
    first.write_text(json.dumps({"model": "openai/gpt-4o-mini"}))
    second = tmp_path / "support.yaml"
    second.write_text(
        "fallback:\n  - model: openai/gpt-4o\n    timeout_ms: 8000\n  - model: openai/gpt-4o-mini\n"
    )

    done = [run_cli(data_dir, "routes", "set", "support", str(path), *remote) for path in (first, second)]
    assert [d.stdout.strip() for d in done] == [
        "route support is now version 1 in gateway default",
        "route support is now version 2 in gateway default",
    ], [d.stderr for d in done]
    got = run_cli(data_dir, "routes", "get", "support", *remote)
    assert json.loads(got.stdout)["route"]["fallback"][0] == {"model": "openai/gpt-4o", "timeout_ms": 8000}

    listed = run_cli(data_dir, "routes", "versions", "support", *remote)
    assert [row[0] for row in table_rows(listed.stdout) if row[0]] == ["2 (current)", "1"]
    restored = run_cli(data_dir, "routes", "restore", "support", "1", *remote)
    assert restored.stdout.strip() == "route support is now version 3 (the route of version 1)"
    assert gw.http.get("/api/v1/accounts/local/gateways/default/routes/support").json()["route"] == {
        "model": "openai/gpt-4o-mini"
    }


def test_a_bad_route_file_is_refused_with_the_gateways_message(
    gw: RunningGateway, data_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("split:\n  - weight: 1\n    then: {model: gpt-4o}\n")
    refused = run_cli(
        data_dir, "routes", "set", "cheap", str(bad), "--url", gw.url, "--token", gw.settings.admin_token
    )
    assert refused.returncode == 1
    assert "400 routes.cheap.split[0].then.model" in refused.stderr
