"""Times stored before the admin API checked them (a token's expiry in milliseconds, a retention of
1e300 days) are shown and used as they can be: `token list` prints such an expiry as written
instead of crashing for the whole account, a token minting another names its own, and a stored
retention past 100 years is read as 100 years; the CLI's `--expires-in` and the API's
`retention_days` refuse such values with a 400 naming what was probably meant."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx2 as httpx
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.integration.test_cli import run_cli, table_rows

TOKENS = "/api/v1/accounts/local/tokens"
NOW = 1_800_000_000.0  # the gateway's clock (2027-01-15T08:00:00Z)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"  # the directory make_settings gives the gateway: the CLI's too


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway]) -> RunningGateway:
    return make_gateway(clock=FakeClock(NOW))


def create(gw: RunningGateway, **body: object) -> dict[str, str]:
    response = gw.http.post(TOKENS, json={"name": "t", "scopes": ["run"], **body})
    assert response.status_code == 201, response.text
    created: dict[str, str] = response.json()
    return created


def test_token_list_shows_an_expiry_stored_before_the_check_as_written(
    gw: RunningGateway, data_dir: Path
) -> None:
    created = create(gw, expires_in=3600)
    _store_expiry(data_dir, created["id"], 1796646611000.0)  # what the API took before: year ~58,900
    _store_expiry(data_dir, gw.http.get("/api/v1/whoami").json()["id"], 1e300)

    listed = run_cli(data_dir, "token", "list", env={"COLUMNS": "200"})

    assert listed.returncode == 0, listed.stdout + listed.stderr
    expires = {row[0]: row[5] for row in table_rows(listed.stdout) if row[0]}
    assert expires[created["id"]] == "1796646611000"
    assert "1e+300" in expires.values()


def test_a_creator_with_an_expiry_stored_out_of_range_is_answered_not_crashed(
    gw: RunningGateway, data_dir: Path
) -> None:
    creator = create(gw, expires_in=3600, scopes=["admin"])
    _store_expiry(data_dir, creator["id"], 1796646611000.0)

    response = httpx.post(
        gw.url + TOKENS,
        json={"name": "child", "scopes": ["run"]},
        headers={"Authorization": f"Bearer {creator['token']}"},
    )

    assert response.status_code == 403, response.text
    assert (
        "this token expires at 1796646611000, so a token it creates must"
        in response.json()["error"]["message"]
    )


def test_the_cli_refuses_an_expiry_beyond_100_years(gw: RunningGateway, data_dir: Path) -> None:
    created = run_cli(data_dir, "token", "create", "--scope", "run", "--expires-in", "1e300")

    assert created.returncode == 2
    assert (
        "error: --expires-in: 1e+300 seconds is more than 100 years (3155760000 seconds); a token"
        in created.stderr
    )
    assert created.stderr.rstrip().endswith("that should not expire is given no --expires-in")
    assert "sg_" not in created.stdout


def test_a_retention_beyond_100_years_is_refused_and_one_stored_is_read_as_100(
    gw: RunningGateway, data_dir: Path
) -> None:
    for days, hint in ((1e300, ""), (2592000, "; if 2592000 is seconds, send 30")):
        response = gw.http.patch(
            "/api/v1/accounts/local/gateways/default", json={"settings": {"retention_days": days}}
        )
        assert response.status_code == 400, response.text
        message = response.json()["error"]["message"]
        assert message.startswith("settings.retention_days: at most 36525 days (100 years)")
        assert message.endswith("retention_days counts days" + hint)
    with sqlite3.connect(data_dir / "sluicegate.db") as db:
        db.execute("UPDATE gateways SET settings = json_set(settings, '$.retention_days', 1e300)")

    listed = run_cli(data_dir, "gateway", "list", env={"COLUMNS": "400"})

    assert listed.returncode == 0, listed.stderr
    assert '"retention_days":36525.0' in listed.stdout.replace(" ", "").replace("\n", "")


def _store_expiry(data_dir: Path, token_id: str, expires_at: float) -> None:
    """Writes a token's expiry as a database written before the API checked it holds it."""
    with sqlite3.connect(data_dir / "sluicegate.db") as db:
        (body,) = db.execute("SELECT body FROM tokens WHERE id = ?", (token_id,)).fetchone()
        db.execute(
            "UPDATE tokens SET body = ? WHERE id = ?",
            (json.dumps(json.loads(body) | {"expires_at": expires_at}), token_id),
        )
