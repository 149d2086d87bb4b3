"""The command line as a user runs it: real subprocesses on a data directory shared with a running gateway."""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
from openai import OpenAI
from typer.testing import CliRunner

from sluicegate.cli import app
from sluicegate.cli import common as cli_common
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.ports import free_port

API = "/api/v1/accounts/local/gateways"
LOG_ID = "cf-aig-log-id"
LOG_ID_RE = re.compile(r"\b[0-9a-f]{32}\b")
CLI_TIMEOUT = 30.0
USER: list[Any] = [{"role": "user", "content": "hello there world"}]


def cli_env(data_dir: Path) -> dict[str, str]:
    """The caller's environment minus any SLUICEGATE_* setting, plus the data directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICEGATE_")}
    return env | {"SLUICEGATE_DATA": str(data_dir)}


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sluicegate", *args]


def run_cli(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """The CLI run to its end; `env` adds to (or, with an empty value, removes from) `cli_env`;
    `stdin`, when given, is piped in. Run in this process (a process costs a second of imports
    here, and these files make a few hundred calls) unless `cwd` is given: a directory is the
    process's, and the gateway under test is a thread of this one. `serve` and `logs --follow`
    run as processes below, so the entry point itself is run too."""
    merged = cli_env(data_dir) | (env or {})
    if cwd is None:
        return _run_in_process(args, merged, stdin)
    return subprocess.run(
        cli_command(*args),
        env={k: v for k, v in merged.items() if v},
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def _run_in_process(
    args: Sequence[str], env: dict[str, str], stdin: str | None
) -> subprocess.CompletedProcess[str]:
    removed: dict[str, str | None] = {name: None for name in os.environ if name not in env or not env[name]}
    # The consoles were made at import, with whatever width this process had then; a process of
    # its own writing to a pipe would use COLUMNS, or 80.
    for console in (cli_common.console, cli_common.errors):
        console.width = int(env.get("COLUMNS") or 80)
    invoke = functools.partial(
        CliRunner().invoke,
        app,
        list(args),
        input=stdin,
        env=removed | {k: v for k, v in env.items() if v},
        catch_exceptions=False,
    )
    # On a thread, so a command that hangs fails the test after CLI_TIMEOUT as a process would.
    thread = concurrent.futures.ThreadPoolExecutor(1)
    try:
        result = thread.submit(invoke).result(timeout=CLI_TIMEOUT)
    finally:
        thread.shutdown(wait=False)
    return subprocess.CompletedProcess(cli_command(*args), result.exit_code, result.stdout, result.stderr)


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table: its cells, stripped."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    # The directory `make_settings` gives a gateway, so the CLI and a running server share one database.
    return tmp_path / "data"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, data_dir: Path) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    assert gateway.settings.data_dir == data_dir
    return gateway


def chat(gw: RunningGateway, model: str = "gpt-4o", gateway: str = "default", behavior: str = "") -> str:
    """One chat completion through `gateway`; its log id, whether it succeeded or not."""
    headers = {"x-fake-behavior": behavior} if behavior else {}
    with OpenAI(base_url=gw.provider_url("openai", gateway), api_key="sk-test", max_retries=0) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(
                model=model, messages=USER, extra_headers=headers
            )
        except openai.APIStatusError as error:
            return error.response.headers[LOG_ID]
        return raw.headers[LOG_ID]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def test_gateway_create_list_delete(gw: RunningGateway, data_dir: Path) -> None:
    created = run_cli(data_dir, "gateway", "create", "My Team")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "my-team" in created.stdout
    duplicate = run_cli(data_dir, "gateway", "create", "my team")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stdout + duplicate.stderr
    assert "Traceback" not in duplicate.stderr

    listed = run_cli(data_dir, "gateway", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [row[:2] for row in table_rows(listed.stdout)] == [["default", "default"], ["my-team", "My Team"]]

    # The running server shares the database: it lists the new gateway and proxies through it.
    assert [g["slug"] for g in gw.http.get(API).json()["result"]] == ["default", "my-team"]
    log_id = chat(gw, gateway="my-team")
    assert [r["id"] for r in gw.wait_for_logs(1, "my-team")] == [log_id]

    deleted = run_cli(data_dir, "gateway", "delete", "my-team")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert "deleted" in deleted.stdout
    assert gw.http.get(f"{API}/my-team").status_code == 404
    # The server caches gateways for a second, so the proxy stops answering within about that.
    assert wait_until(lambda: gw.http.post("/v1/local/my-team/openai/chat/completions").status_code == 404)

    again = run_cli(data_dir, "gateway", "delete", "my-team")
    assert again.returncode == 1
    assert "no gateway 'my-team'" in again.stdout + again.stderr


def test_logs_prints_the_newest_matching_records_oldest_first(gw: RunningGateway, data_dir: Path) -> None:
    assert gw.http.post(API, json={"name": "Other"}).status_code == 201
    # A model name is whatever a client sends; one that looks like console markup prints as sent.
    odd_model = "[bold]x[/bold][/oops]"
    errors = [
        chat(gw, "error-500"),
        chat(gw),
        chat(gw, "error-503"),
        chat(gw, odd_model, behavior="error-500"),
    ]
    chat(gw, "error-500", gateway="other")
    chat(gw)
    assert len(gw.wait_for_logs(5)) == 5
    assert len(gw.wait_for_logs(1, "other")) == 1

    shown = run_cli(data_dir, "logs", "--limit", "2", "--status", "5xx", "--gateway", "default")

    assert shown.returncode == 0, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    # One record per line (so the output greps), newest last.
    assert [LOG_ID_RE.findall(line) for line in lines] == [[errors[2]], [errors[3]]], shown.stdout
    assert " default openai POST chat/completions error-503 503 " in lines[0]
    assert f" default openai POST chat/completions {odd_model} 500 " in lines[1]


def test_logs_rejects_a_bad_status(data_dir: Path) -> None:
    shown = run_cli(data_dir, "logs", "--status", "5x")

    assert shown.returncode == 2
    assert "status must be" in shown.stdout + shown.stderr


class LineReader:
    """Reads a pipe line by line on a thread, so the test can wait for a line with a deadline."""

    def __init__(self, pipe: object) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: object) -> None:
        for line in pipe:  # type: ignore[attr-defined]
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout}s; saw {self.seen!r}") from None
            self.seen.append(line)
            if text in line:
                return line

    def drain(self) -> list[str]:
        """Every line read so far (the pipe's writer has ended), in `seen`."""
        self._thread.join(timeout=CLI_TIMEOUT)
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return self.seen


def test_logs_follow_prints_records_as_they_arrive(gw: RunningGateway, data_dir: Path) -> None:
    before = chat(gw)
    gw.wait_for_logs(1)
    with following(data_dir, "--gateway", "default") as (reader, interrupt):
        reader.wait_for(before)  # the records already there come first: it has started

        after = chat(gw, "gpt-4o-mini")
        line = reader.wait_for(after)

        assert " gpt-4o-mini 200 " in line
        assert sum(before in seen for seen in reader.seen) == 1
        interrupt()


@contextlib.contextmanager
def following(data_dir: Path, *args: str) -> Iterator[tuple[LineReader, Callable[[], None]]]:
    """`logs --follow` running: a reader of its output, and Ctrl-C, which must end it with 0. Its
    stderr is read all along (so it never blocks on a full pipe) and, should Ctrl-C not end it,
    shown with every thread's stack (faulthandler, on SIGABRT) in the failure."""
    follow = subprocess.Popen(
        cli_command("logs", "--follow", *args),
        env=cli_env(data_dir) | {"PYTHONFAULTHANDLER": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_no_core_file,
    )
    assert follow.stdout is not None
    assert follow.stderr is not None
    output, errors = LineReader(follow.stdout), LineReader(follow.stderr)

    def interrupt() -> None:
        follow.send_signal(signal.SIGINT)
        try:
            code = follow.wait(timeout=CLI_TIMEOUT)
        except subprocess.TimeoutExpired:
            follow.send_signal(signal.SIGABRT)
            follow.wait(timeout=CLI_TIMEOUT)
            raise AssertionError("Ctrl-C did not end it") from None
        assert code == 0

    try:
        yield output, interrupt
    except AssertionError as failed:  # its stderr says why (a crash, or where it hung)
        if follow.poll() is None:
            follow.kill()
        follow.wait()
        raise AssertionError(f"{failed}\nlogs --follow's stderr:\n{''.join(errors.drain())}") from failed
    finally:
        if follow.poll() is None:
            follow.kill()
        follow.wait()
        output.drain()  # the readers are done before their pipes close
        errors.drain()
        follow.stdout.close()
        follow.stderr.close()


def _no_core_file() -> None:
    """The CLI aborted on purpose (SIGABRT, for faulthandler's stacks) leaves no core file behind."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def mint(gw: RunningGateway, *scopes: str, name: str = "cli test") -> tuple[str, str]:
    """A token made through the admin API: its id and secret."""
    response = gw.http.post("/api/v1/accounts/local/tokens", json={"name": name, "scopes": list(scopes)})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def test_cache_purge_takes_the_url_and_a_token(gw: RunningGateway, data_dir: Path) -> None:
    assert gw.http.patch(f"{API}/default", json={"settings": {"cache_enabled": True}}).status_code == 200

    def cache_status() -> str:
        with OpenAI(base_url=gw.provider_url("openai"), api_key="sk-test", max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
            return raw.headers["cf-aig-cache-status"]

    assert [cache_status(), cache_status()] == ["MISS", "HIT"]
    _, purger = mint(gw, "purge_all")

    purged = run_cli(data_dir, "cache", "purge", "--url", gw.url, "--token", purger)

    assert purged.returncode == 0, purged.stdout + purged.stderr
    assert purged.stdout.strip() == "purged 1 cached answer(s) from gateway default"
    assert cache_status() == "MISS"
    # The same from the environment; a token without the scope gets the gateway's own refusal.
    by_env = run_cli(data_dir, "cache", "purge", env={"SLUICEGATE_URL": gw.url, "SLUICEGATE_TOKEN": purger})
    assert by_env.stdout.strip() == "purged 1 cached answer(s) from gateway default", by_env.stderr
    _, reader = mint(gw, "read")
    refused = run_cli(data_dir, "cache", "purge", env={"SLUICEGATE_URL": gw.url, "SLUICEGATE_TOKEN": reader})
    assert refused.returncode == 1
    assert "error: 403 this token lacks the 'purge_all' scope" in refused.stderr
    # Without any token it says how to give one, and sends nothing.
    tokenless = run_cli(data_dir, "cache", "purge", "--url", gw.url)
    assert tokenless.returncode == 2
    assert "pass --token or set SLUICEGATE_TOKEN" in tokenless.stderr


def test_serve_prints_where_everything_is_and_the_cli_finds_it(tmp_path: Path, data_dir: Path) -> None:
    port, admin = free_port(), "sg_serve-test-admin-0123456789"
    env = cli_env(data_dir) | {"SLUICEGATE_ADMIN_TOKEN": admin, "COLUMNS": "60"}
    server = subprocess.Popen(
        cli_command("serve", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        reader = LineReader(server.stdout)
        reader.wait_for("  redis ")
        url = f"http://127.0.0.1:{port}"
        # One whole line each, however narrow the terminal: a wrapped URL cannot be clicked.
        assert reader.seen == [
            f"Sluicegate listening on 127.0.0.1:{port}\n",
            f"  dashboard  {url}/dashboard/\n",
            f"  proxy      {url}/v1/{{account}}/{{gateway}}/{{provider}}/…\n",
            f"  admin API  {url}/api/v1/\n",
            f"  database   sqlite:///{data_dir.resolve()}/sluicegate.db\n",
            "  redis      none: cache, counters and routing state in this process (stores.cache_url)\n",
        ]
        assert wait_until(lambda: _answers(url + "/healthz"), timeout=CLI_TIMEOUT)

        # No --url: the CLI finds the port `serve` was given; the token comes from the environment.
        purged = run_cli(data_dir, "cache", "purge", env={"SLUICEGATE_TOKEN": admin})

        assert purged.returncode == 0, purged.stdout + purged.stderr
        assert purged.stdout.strip() == "purged 0 cached answer(s) from gateway default"
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=CLI_TIMEOUT) == 0
        assert not (data_dir / "server.url").exists()  # a stopped server is not found any more
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()


def test_serve_names_its_redis_without_the_password(data_dir: Path, refused_port: int) -> None:
    """The banner says which Redis the replicas share (a gateway starts with Redis down), never
    its password nor its query's values."""
    secret = "s3cret-redis-pass"
    port = free_port()
    cache_url = f"redis://default:{secret}@127.0.0.1:{refused_port}/0?prefix=banner:&password={secret}"
    env = cli_env(data_dir) | {"SLUICEGATE_CACHE_URL": cache_url}
    server = subprocess.Popen(
        cli_command("serve", "--port", str(port)),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        reader = LineReader(server.stdout)
        assert (
            reader.wait_for("  redis ") == f"  redis      redis://default:***@127.0.0.1:{refused_port}/0?…\n"
        )
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=CLI_TIMEOUT) == 0
        assert server.stderr is not None
        stderr = server.stderr.read()
        assert "Redis unreachable" in stderr  # (it was tried, and said so)
        assert secret not in "".join(reader.drain()) + stderr
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        for pipe in (server.stdout, server.stderr):
            if pipe is not None:
                pipe.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_logs_follow_with_a_limit_prints_only_what_was_asked(gw: RunningGateway, data_dir: Path) -> None:
    older = [chat(gw), chat(gw), chat(gw)]
    gw.wait_for_logs(3)
    with following(data_dir, "--limit", "1") as (reader, interrupt):
        reader.wait_for(older[-1])

        newer = chat(gw, "gpt-4o-mini")
        reader.wait_for(newer)

        # Exactly the one asked for, then the new one: none of the older records after them.
        assert [LOG_ID_RE.findall(line) for line in reader.seen] == [[older[-1]], [newer]]
        interrupt()


def test_token_ids_print_whole_and_revoke_takes_them_or_a_prefix(gw: RunningGateway, data_dir: Path) -> None:
    long_name = "a token for the nightly evaluation jobs of the search team"
    ids = [mint(gw, "run", name=long_name)[0] for _ in range(3)]

    listed = run_cli(data_dir, "token", "list", env={"COLUMNS": "80"})

    assert listed.returncode == 0, listed.stdout + listed.stderr
    printed = [row[0] for row in table_rows(listed.stdout) if row[0]]
    assert printed[1:] == ids  # after the bootstrap token; whole, however narrow the terminal
    whole = run_cli(data_dir, "token", "revoke", printed[1])
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert whole.stdout.strip() == f"revoked token {ids[0]}"
    cut = run_cli(data_dir, "token", "revoke", ids[1][:6] + "…")  # as a narrower table would cut it
    assert cut.stdout.strip() == f"revoked token {ids[1]}", cut.stderr
    revoked = {t["id"] for t in gw.http.get("/api/v1/accounts/local/tokens").json()["result"] if t["revoked"]}
    assert revoked == set(ids[:2])
    again = run_cli(data_dir, "token", "revoke", ids[0])
    assert (again.returncode, again.stderr.strip().splitlines()[-1]) == (
        1,
        f"error: token {ids[0]} is already revoked",
    )


def test_a_start_of_several_tokens_is_refused(gw: RunningGateway, data_dir: Path) -> None:
    by_start: dict[str, list[str]] = {}
    for token in gw.http.get("/api/v1/accounts/local/tokens").json()["result"]:  # the bootstrap token
        by_start.setdefault(token["id"][0], []).append(token["id"])
    while not any(len(same) > 1 for same in by_start.values()):  # 17 ids share a first hex digit
        token_id = mint(gw, "run")[0]
        by_start.setdefault(token_id[0], []).append(token_id)
    start = next(start for start, same in by_start.items() if len(same) > 1)

    ambiguous = run_cli(data_dir, "token", "revoke", start)

    # (test_cli_mistakes.py: a start of 4 characters or more that several ids share names them)
    assert ambiguous.returncode == 1
    assert f"{start!r} is too short a start of a token id: give at least 4 characters" in ambiguous.stderr
    assert not any(t["revoked"] for t in gw.http.get("/api/v1/accounts/local/tokens").json()["result"])


def test_a_token_for_a_gateway_that_does_not_exist_is_refused(gw: RunningGateway, data_dir: Path) -> None:
    created = run_cli(data_dir, "token", "create", "--scope", "run", "--gateway", "defualt")

    assert created.returncode == 1
    assert "error: no gateway 'defualt' in account 'local'; did you mean 'default'?" in created.stderr
    assert "sg_" not in created.stdout
    assert len(gw.http.get("/api/v1/accounts/local/tokens").json()["result"]) == 1  # the bootstrap one


def test_logs_of_a_gateway_that_does_not_exist_is_an_error(gw: RunningGateway, data_dir: Path) -> None:
    chat(gw)
    gw.wait_for_logs(1)

    shown = run_cli(data_dir, "logs", "--gateway", "defualt")

    assert shown.returncode == 1
    assert "error: no gateway 'defualt' in account 'local'; did you mean 'default'?" in shown.stderr


def test_every_command_says_which_database_and_none_creates_one_elsewhere(
    gw: RunningGateway, data_dir: Path, tmp_path: Path
) -> None:
    listed = run_cli(data_dir, "gateway", "list")
    assert listed.stderr.splitlines()[0] == f"database sqlite:///{data_dir.resolve()}/sluicegate.db"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = run_cli(data_dir, "gateway", "create", "Team", env={"SLUICEGATE_DATA": ""}, cwd=elsewhere)

    assert lost.returncode == 1
    assert lost.stderr.splitlines()[0] == f"database sqlite:///{elsewhere.resolve()}/data/sluicegate.db"
    assert f"error: no database at {elsewhere.resolve()}/data/sluicegate.db" in lost.stderr
    assert "set SLUICEGATE_DATA" in lost.stderr
    assert list(elsewhere.iterdir()) == []
    assert [g["slug"] for g in gw.http.get(API).json()["result"]] == ["default"]


# Model names a client may send: a forged log line, screen clearing, colour and a window title (OSC),
# an 8-bit CSI, DEL and a bidi override that shows the rest reversed.
FORGED = "gpt-4o-mini\n2026-12-06 17:00:00 01a24c63deadbeef default openai POST chat/completions gpt-4o 200"
ANSI = "\x1b[2J\x1b[31mRED\x1b[0m\x1b]0;title-pwned\x07"
C1_BIDI = "\x9b31m\u202eini-m\x7f"
TERMINAL_CONTROLS = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_logs_prints_what_clients_chose_escaped_one_record_a_line(gw: RunningGateway, data_dir: Path) -> None:
    ids = [chat(gw, model) for model in (FORGED, ANSI, C1_BIDI)]
    assert len(gw.wait_for_logs(3)) == 3

    shown = run_cli(data_dir, "logs", "--gateway", "default")

    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert [LOG_ID_RE.findall(line) for line in lines] == [[log_id] for log_id in ids], shown.stdout
    assert " chat/completions gpt-4o-mini\\n2026-12-06 17:00:00 01a24c63deadbeef default " in lines[0]
    assert " \\x1b[2J\\x1b[31mRED\\x1b[0m\\x1b]0;title-pwned\\x07 " in lines[1]
    assert " \\x9b31m\\u202eini-m\\x7f " in lines[2]
    assert TERMINAL_CONTROLS.search(shown.stdout) is None


def test_logs_export_to_stdout_escapes_terminal_controls_in_the_same_json(
    gw: RunningGateway, data_dir: Path
) -> None:
    (log_id,) = [chat(gw, C1_BIDI)]
    gw.wait_for_logs(1)

    printed = run_cli(
        data_dir, "logs", "export", "--url", gw.url, "--token", gw.settings.admin_token, "-o", "-"
    )

    assert printed.returncode == 0, printed.stderr
    assert TERMINAL_CONTROLS.search(printed.stdout) is None
    assert "\\u009b31m\\u202eini-m\\u007f" in printed.stdout
    (record,) = [json.loads(line) for line in printed.stdout.splitlines()]
    assert (record["id"], record["model"]) == (log_id, C1_BIDI)


def test_logs_prints_an_imported_id_escaped(gw: RunningGateway, data_dir: Path, tmp_path: Path) -> None:
    # A record's id is whatever the imported file says: it may forge a line or hold terminal controls.
    chat(gw)
    gw.wait_for_logs(1)
    exported = tmp_path / "logs.ndjson"
    cli = ("--url", gw.url, "--token", gw.settings.admin_token)
    assert run_cli(data_dir, "logs", "export", *cli, "-o", str(exported)).returncode == 0
    (record,) = [json.loads(line) for line in exported.read_text().splitlines()]
    exported.write_text(json.dumps({**record, "id": f"{record['id']}{ANSI}\n{C1_BIDI}"}) + "\n")
    fresh = tmp_path / "fresh"
    assert run_cli(fresh, "migrate").returncode == 0
    imported = run_cli(fresh, "logs", "import", str(exported))
    assert imported.returncode == 0, imported.stderr

    shown = run_cli(fresh, "logs")

    assert shown.returncode == 0, shown.stderr
    (line,) = shown.stdout.splitlines()
    assert (
        f" {record['id']}\\x1b[2J\\x1b[31mRED\\x1b[0m\\x1b]0;title-pwned\\x07\\n\\x9b31m\\u202eini-m\\x7f "
        in line
    )
    assert TERMINAL_CONTROLS.search(shown.stdout) is None
