"""What the command line says to input it cannot use: one `error:` line naming what was probably
meant, and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sluicegate.cli import manage
from sluicegate.tokens import Token, new_token
from tests.integration.test_cli import run_cli, table_rows


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(
    "command",
    [
        ("cache", "purge"),
        ("spend",),
        ("routes", "get", "support"),
        ("keys", "list"),
        ("custom-providers", "list"),
        ("logs", "export", "-o", "{tmp}/out.ndjson"),
    ],
)
def test_a_url_without_its_scheme_is_one_error_saying_what_a_url_looks_like(
    command: tuple[str, ...], data_dir: Path, tmp_path: Path
) -> None:
    for given, meant in [("notaurl", "; did you mean 'http://notaurl'?"), ("ftp://host", "")]:
        args = [arg.format(tmp=tmp_path) for arg in command]
        ran = run_cli(data_dir, *args, "--url", given, "--token", "sg_x")

        assert ran.returncode == 1
        assert error_lines(ran.stderr) == [
            f"error: --url / SLUICEGATE_URL: {given!r} is not a gateway's URL: give http:// or https://"
            f" and a host, e.g. http://127.0.0.1:8787{meant}"
        ]
        assert "Traceback" not in ran.stderr
    assert not (tmp_path / "out.ndjson").exists()  # an export that never started writes nothing


def test_a_url_with_a_port_that_is_no_number_is_one_error(data_dir: Path) -> None:
    ran = run_cli(data_dir, "spend", env={"SLUICEGATE_URL": "http://host:port", "SLUICEGATE_TOKEN": "sg_x"})

    assert ran.returncode == 1
    assert error_lines(ran.stderr) == [
        "error: --url / SLUICEGATE_URL: 'http://host:port' is not a usable URL: nonnumeric port: 'port'"
    ]


def test_migrate_into_a_data_directory_that_is_a_file_names_the_setting(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("")

    ran = run_cli(a_file, "migrate")

    assert ran.returncode == 2
    assert error_lines(ran.stderr) == [
        f"error: SLUICEGATE_DATA: the data directory {a_file} is a file: give a directory (it is made when"
        " missing)"
    ]


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ("5usd/month", "a period is a fixed window of seconds, not a calendar month; did you mean 5usd/30d?"),
        ("1usd/year", "a period is a fixed window of seconds, not a calendar year; did you mean 1usd/365d?"),
        ("5usd/2years", "a period is a fixed window of seconds, not a calendar year; the longest is 366d"),
        ("10tokens/hr", "no period 'hr'; did you mean 10tokens/hour?"),
        ("5eur/day", "'eur' is no unit: usd (or $), tokens or requests"),
        ("1usd/53w", "a period is at most 366 days (366d)"),
        (
            "5usd/fortnight",
            "no period 'fortnight': units usd (or $), tokens, requests; periods s, m (min), h, d, w or their"
            " words (seconds … weeks), with an optional count: 30d, 12h",
        ),
    ],
)
def test_a_brief_rule_names_the_part_that_is_off_and_what_was_meant(
    given: str, said: str, data_dir: Path
) -> None:
    ran = run_cli(data_dir, "token", "create", "--scope", "run", "--rule", given)

    assert ran.returncode == 2
    assert error_lines(ran.stderr) == [f"error: --rule: {given!r}: {said}"]


@pytest.fixture
def migrated(data_dir: Path) -> Path:
    """A database as `migrate` leaves it: the account `local` with its gateway `default`."""
    assert run_cli(data_dir, "migrate").returncode == 0
    return data_dir


def test_logs_of_an_account_that_owns_nothing_name_the_accounts_there_are(migrated: Path) -> None:
    ran = run_cli(migrated, "logs", "--account", "locl")

    assert ran.returncode == 1
    assert error_lines(ran.stderr) == ["error: no account 'locl'; did you mean 'local'?"]
    assert run_cli(migrated, "logs").returncode == 0  # an account with no records yet prints none


def token_ids(data_dir: Path, account: str = "local") -> list[str]:
    listed = run_cli(data_dir, "token", "list", "--account", account, env={"COLUMNS": "200"})
    assert listed.returncode == 0, listed.stderr
    return [row[0] for row in table_rows(listed.stdout) if row[0]]


@pytest.mark.parametrize("seconds", ["0", "-5"])
def test_a_token_that_would_expire_now_or_never_by_mistake_is_refused(seconds: str, migrated: Path) -> None:
    ran = run_cli(migrated, "token", "create", "--scope", "run", f"--expires-in={seconds}")

    assert ran.returncode == 2
    [line] = error_lines(ran.stderr)
    assert line.startswith(f"error: --expires-in: {seconds} ")
    assert "sg_" not in ran.stdout
    assert token_ids(migrated) == []


def test_a_gateway_or_token_in_an_account_that_owns_nothing_needs_new_account(migrated: Path) -> None:
    typo = run_cli(migrated, "gateway", "create", "Search", "--account", "locl")
    assert typo.returncode == 1
    assert error_lines(typo.stderr) == [
        "error: no account 'locl'; did you mean 'local'? (--new-account starts it with this gateway)"
    ]

    started = run_cli(migrated, "gateway", "create", "Search", "--account", "team-b", "--new-account")
    assert (started.returncode, started.stdout.strip()) == (0, "created gateway search in new account team-b")
    again = run_cli(migrated, "gateway", "create", "Support", "--account", "team-b")
    assert (again.returncode, again.stdout.strip()) == (0, "created gateway support in account team-b")
    listed = run_cli(migrated, "gateway", "list", "--account", "team-b")
    assert [row[0] for row in table_rows(listed.stdout)] == ["search", "support"]
    # An account to be managed through the API starts with its admin token as well.
    admin = run_cli(migrated, "token", "create", "--scope", "admin", "--account", "team-c", "--new-account")
    assert admin.returncode == 0, admin.stderr
    assert token_ids(migrated, "team-c") == [admin.stdout.split()[1]]


@pytest.mark.parametrize(
    "command",
    [
        ("gateway", "list"),
        ("gateway", "delete", "search"),
        ("token", "list"),
        ("token", "revoke", "0123456789abcdef"),
        ("token", "create", "--scope", "run"),
    ],
)
def test_commands_on_an_account_that_owns_nothing_name_the_accounts_there_are(
    command: tuple[str, ...], migrated: Path
) -> None:
    assert (
        run_cli(migrated, "gateway", "create", "Search", "--account", "team-b", "--new-account").returncode
        == 0
    )

    ran = run_cli(migrated, *command, "--account", "tema-b")

    assert ran.returncode == 1
    [line] = error_lines(ran.stderr)
    assert line.startswith("error: no account 'tema-b'; did you mean 'team-b'?")
    assert "sg_" not in ran.stdout
    assert token_ids(migrated) == []


def create_token(data_dir: Path, *args: str) -> str:
    """A token made with `token create ARGS`: its id."""
    created = run_cli(data_dir, "token", "create", *args)
    assert created.returncode == 0, created.stderr
    return created.stdout.split()[1]


def test_a_token_id_start_shorter_than_four_characters_is_refused(
    migrated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = iter(["cafe000000000001", "cafe000000000002"])

    def with_id(*args: Any) -> tuple[Token, str]:
        token, secret = new_token(*args)
        return token.model_copy(update={"id": next(ids)}), secret

    monkeypatch.setattr(manage, "new_token", with_id)
    made = [create_token(migrated, "--scope", "run") for _ in range(2)]

    short = run_cli(migrated, "token", "revoke", "caf")
    assert short.returncode == 1
    assert error_lines(short.stderr) == [
        "error: 'caf' is too short a start of a token id: give at least 4 characters of the id `token list`"
        " shows"
    ]
    several = run_cli(migrated, "token", "revoke", "cafe")
    assert error_lines(several.stderr) == [
        f"error: 'cafe' is the start of 2 tokens ({made[0]}, {made[1]}): give more of the id"
    ]
    one = run_cli(migrated, "token", "revoke", "cafe0000000000")  # (14 of the 16)
    assert one.returncode == 1  # still both
    revoked = run_cli(migrated, "token", "revoke", made[1])
    assert revoked.stdout.strip() == f"revoked token {made[1]}", revoked.stderr


def test_the_last_unlimited_admin_token_is_revoked_only_with_force(migrated: Path) -> None:
    first = create_token(migrated, "--scope", "admin")
    create_token(migrated, "--scope", "admin", "--gateway", "default")  # limited: cannot manage tokens
    create_token(migrated, "--scope", "admin", "--rule", "5usd/day")  # budgeted: cannot create tokens

    refused = run_cli(migrated, "token", "revoke", first)
    assert refused.returncode == 1
    assert error_lines(refused.stderr) == [
        f"error: token {first} is the last active admin token of account 'local' not limited to gateways or"
        " by budget rules: without it no token can manage the account's tokens through the API; create"
        " another first (`sluicegate token create --scope admin`), or pass --force (the CLI can still"
        " create one later)"
    ]
    second = create_token(migrated, "--scope", "admin")
    assert run_cli(migrated, "token", "revoke", first).stdout.strip() == f"revoked token {first}"
    assert run_cli(migrated, "token", "revoke", second).returncode == 1
    forced = run_cli(migrated, "token", "revoke", second, "--force")
    assert forced.stdout.strip() == f"revoked token {second}", forced.stderr


def test_a_database_url_of_an_unknown_scheme_is_one_error_naming_where_it_was_set(
    data_dir: Path, tmp_path: Path
) -> None:
    config = tmp_path / "gateway.toml"
    config.write_text('[stores]\ndatabase_url = "mysql://db.example/gw"\n')
    for env, where in [
        ({"SLUICEGATE_DATABASE_URL": "mysql://db.example/gw"}, "SLUICEGATE_DATABASE_URL"),
        ({"SLUICEGATE_CONFIG": str(config)}, f"[stores] database_url in {config}"),
    ]:
        ran = run_cli(data_dir, "gateway", "list", env=env)

        assert ran.returncode == 2
        assert error_lines(ran.stderr) == [
            f"error: configuration: {where}: unsupported scheme 'mysql' (supported: sqlite, postgresql)"
        ]
