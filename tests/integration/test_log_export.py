"""Log export: NDJSON over HTTP (streamed, resumable by cursor), `sluicegate logs export` and
`sluicegate logs import`, and the round trip into a fresh database with every field intact.

A real gateway on loopback on embedded and scaled storage, the CLI as real subprocesses, the
OpenAI SDK and raw HTTP as clients.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx2 as httpx
import openai
import pytest
from aiohttp import web
from openai import OpenAI

from sluicegate.storage import create_database
from sluicegate.storage.base import LogQuery, LogRecord
from tests.conftest import POSTGRES_URL, RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread
from tests.integration.test_cli import run_cli

backend = both_backends
API = "/api/v1/accounts/local/gateways"
EXPORT = f"{API}/default/logs/export"
LOG_ID = "cf-aig-log-id"
USER: list[Any] = [{"role": "user", "content": "export me"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def fresh_database(backend: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment that points the CLI at a database of its own, not the gateway's: a new
    data directory, or a new PostgreSQL schema (dropped afterwards)."""
    if backend == "embedded":
        yield {"SLUICEGATE_DATA": str(tmp_path / "fresh")}
        return
    schema = f"sluicegate_fresh_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield {"SLUICEGATE_DATABASE_URL": f"{POSTGRES_URL}{separator}schema={schema}"}

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    asyncio.run(drop())


def stored_records(database_url: str) -> list[LogRecord]:
    """Every record of the database, read with the storage layer itself (all fields)."""

    async def read() -> list[LogRecord]:
        database = create_database(database_url)
        await database.open()
        try:
            return await database.query_logs(LogQuery(account="local", limit=10_000))
        finally:
            await database.close()

    return asyncio.run(read())


def sdk(gw: RunningGateway) -> OpenAI:
    return OpenAI(base_url=gw.provider_url("openai"), api_key="sk-test", max_retries=0)


def chats(gw: RunningGateway, count: int) -> list[str]:
    with sdk(gw) as client:
        ids = [
            client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER).headers[LOG_ID]
            for _ in range(count)
        ]
    return ids


def varied_traffic(gw: RunningGateway) -> list[str]:
    """Records that differ in every kind of field: metadata, a stream, an upstream error, a cache
    miss then hit, a universal fallback (step, attempts), bodies that are not UTF-8 or that start
    with `base64:`, feedback and a score. Their log ids, once all are stored."""
    assert gw.http.patch(f"{API}/default", json={"settings": {"cache_enabled": True}}).status_code == 200
    ids = []
    with sdk(gw) as client:
        metadata = {"cf-aig-metadata": json.dumps({"user": "ana", "n": 3, "ok": True})}
        ids.append(
            client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=USER, extra_headers=metadata
            ).headers[LOG_ID]
        )
        streamed = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
        ids.append(streamed.headers[LOG_ID])
        with pytest.raises(openai.InternalServerError) as failed:
            client.chat.completions.create(model="error-500", messages=USER)
        ids.append(failed.value.response.headers[LOG_ID])
        for _ in range(2):  # a miss, then a hit
            ids.append(
                client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER).headers[
                    LOG_ID
                ]
            )
    step = {
        "provider": "openai",
        "endpoint": "chat/completions",
        "headers": {"Authorization": "Bearer sk-test"},
    }
    steps = [{**step, "query": {"model": model, "messages": USER}} for model in ("error-503", "gpt-4o-mini")]
    ids.append(gw.http.post("/v1/local/default", json=steps).headers[LOG_ID])
    for body in (bytes(range(256)), b"base64:not really"):
        ids.append(gw.http.post("/v1/local/default/openai/chat/completions", content=body).headers[LOG_ID])
    assert len(gw.wait_for_logs(len(ids))) == len(ids)
    annotated = gw.http.patch(f"{API}/default/logs/{ids[0]}", json={"feedback": 1, "score": 66.6})
    assert annotated.status_code == 200
    return ids


def lines_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text.endswith("\n") or not response.text
    return [json.loads(line) for line in response.text.splitlines()]


def test_export_then_import_into_a_fresh_database_keeps_every_field(
    gw: RunningGateway, tmp_path: Path, fresh_database: dict[str, str]
) -> None:
    ids = varied_traffic(gw)
    source = stored_records(gw.settings.resolved_database_url)
    assert sorted(r.id for r in source) == sorted(ids)
    # The traffic covers what is hard to carry: bytes that are not text, text that looks encoded.
    by_id = {r.id: r for r in source}
    assert by_id[ids[-2]].request_body == bytes(range(256))
    assert by_id[ids[-1]].request_body == b"base64:not really"
    assert (by_id[ids[4]].cache_status, by_id[ids[4]].cache_saved_ms is not None) == ("HIT", True)
    assert (len(by_id[ids[5]].attempts), by_id[ids[5]].step) == (2, 1)
    assert (by_id[ids[0]].feedback, by_id[ids[0]].score, by_id[ids[0]].metadata["user"]) == (1, 66.6, "ana")
    exported = tmp_path / "logs.ndjson"
    data_dir = gw.settings.data_dir

    out = run_cli(
        data_dir, "logs", "export", "--url", gw.url, "--token", gw.settings.admin_token, "-o", str(exported)
    )

    assert out.returncode == 0, out.stdout + out.stderr
    assert f"exported {len(ids)} record(s) of gateway default to {exported}" in out.stderr
    exported_ids = [json.loads(line)["id"] for line in exported.read_bytes().splitlines()]
    assert sorted(exported_ids) == sorted(ids)  # each once, in the order stored
    migrated = run_cli(data_dir, "migrate", env=fresh_database)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    for _ in range(2):  # importing twice stores each record once
        imported = run_cli(data_dir, "logs", "import", str(exported), env=fresh_database)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        assert f"{len(ids)} record(s) of {exported} are in the database" in imported.stdout
    fresh_url = (
        fresh_database.get("SLUICEGATE_DATABASE_URL") or f"sqlite:///{tmp_path / 'fresh' / 'sluicegate.db'}"
    )
    assert stored_records(fresh_url) == source


def test_an_interrupted_export_resumes_after_its_last_line_without_gaps_or_repeats(
    gw: RunningGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sluicegate.endpoints.export.PAGE", 3)  # pages meet inside every export here
    ids = chats(gw, 7)
    gw.wait_for_logs(7)
    whole = [line["id"] for line in lines_of(gw.http.get(EXPORT))]
    assert whole == sorted(ids)

    # A client that stops reading after three records and hangs up.
    received: list[dict[str, Any]] = []
    with (
        httpx.Client(base_url=gw.url, headers=gw.http.headers, timeout=10) as client,
        client.stream("GET", EXPORT) as response,
    ):
        for line in response.iter_lines():
            received.append(json.loads(line))
            if len(received) == 3:
                break
    later = chats(gw, 2)  # records after the export began: not part of it, resumed or not
    gw.wait_for_logs(9)

    rest = lines_of(gw.http.get(EXPORT, params={"cursor": received[-1]["cursor"]}))

    assert [line["id"] for line in received + rest] == whole
    # Resuming page by page, from any line, gives the same records once each.
    walked, cursor = [], received[0]["cursor"]
    while page := lines_of(gw.http.get(EXPORT, params={"cursor": cursor, "limit": 2})):
        assert len(page) <= 2
        walked += [line["id"] for line in page]
        cursor = page[-1]["cursor"]
    assert [received[0]["id"], *walked] == whole
    assert set(later) <= {line["id"] for line in lines_of(gw.http.get(EXPORT))}  # a new export has them


def test_a_resumed_export_adds_the_requests_still_running_when_it_began(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    """A record's id and `ts` are stamped when its request starts, and it is stored when the request
    ends: a stream still running when an export is taken is not in it, and resuming the export
    from its last line, once the stream ended, adds it (before: never, being below that line's id)."""
    with sdk(gw) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=USER, stream=True, extra_headers={"x-fake-behavior": "pause-stream"}
        )
        running = raw.headers[LOG_ID]
        chunks = iter(raw.parse())
        next(chunks)  # under way: its id and time are taken
        done = chats(gw, 2)
        assert len(gw.wait_for_logs(2)) == 2

        taken = lines_of(gw.http.get(EXPORT))

        fake.release()
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert running < done[0]
    assert [line["id"] for line in taken] == done
    assert len(gw.wait_for_logs(3)) == 3

    resumed = lines_of(gw.http.get(EXPORT, params={"cursor": taken[-1]["cursor"]}))

    assert [line["id"] for line in resumed] == [running]
    assert lines_of(gw.http.get(EXPORT, params={"cursor": resumed[-1]["cursor"]})) == []
    # The export's range is the one it began with: a new export over the same `to` holds no other.
    to = json.loads(base64.urlsafe_b64decode(taken[0]["cursor"].split(".")[0] + "=="))["filters"]["to"]
    again = lines_of(gw.http.get(EXPORT, params={"to": to}))
    assert sorted(line["id"] for line in again) == sorted([running, *done])


def test_a_cursor_of_an_earlier_version_resumes_by_id_as_that_export_ran(gw: RunningGateway) -> None:
    ids = chats(gw, 3)
    gw.wait_for_logs(3)
    header = {"gateway": "default", "filters": {"to": repr(time.time() + 60)}}  # no `order`: by id
    earlier = base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=") + "." + ids[0]

    rest = lines_of(gw.http.get(EXPORT, params={"cursor": earlier}))

    assert [line["id"] for line in rest] == ids[1:]
    assert all(line["cursor"].endswith("." + line["id"]) for line in rest)  # and goes on by id
    stored = lines_of(gw.http.get(EXPORT))[0]["cursor"]
    forged = stored.rsplit(".", 1)[0] + "." + ids[0]  # a log id where a storage position goes
    refused = gw.http.get(EXPORT, params={"cursor": forged})
    assert refused.status_code == 400, refused.text
    assert "cursor is not one an export gave" in refused.json()["error"]["message"]


def test_export_takes_the_log_filters(gw: RunningGateway) -> None:
    ok = chats(gw, 2)
    with sdk(gw) as client, pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="error-500", messages=USER)
    gw.wait_for_logs(3)

    errors = lines_of(gw.http.get(EXPORT, params={"status": "5xx"}))
    successes = lines_of(gw.http.get(EXPORT, params={"status": "200", "model": "gpt-4o"}))

    assert [line["id"] for line in errors] == [failed.value.response.headers[LOG_ID]]
    assert [line["id"] for line in successes] == ok
    assert lines_of(gw.http.get(EXPORT, params={"from": time.time() + 60})) == []
    # The cursor keeps the filters: resuming needs nothing else.
    resumed = lines_of(gw.http.get(EXPORT, params={"cursor": successes[0]["cursor"]}))
    assert [line["id"] for line in resumed] == ok[1:]


@pytest.mark.parametrize(
    ("params", "param", "says"),
    [
        ({"form": "0"}, "form", "unknown parameter 'form'; did you mean 'from'?"),
        ({"status": "5x"}, "status", "status must be a code like 429 or a class like 5xx"),
        ({"limit": "0"}, "limit", "limit must be a whole number of records, at least 1; got '0'"),
        ({"feedback": "up"}, "feedback", "for 'up' send feedback=1"),
        ({"cursor": "nonsense"}, "cursor", "cursor is not one an export gave"),
    ],
)
def test_bad_export_parameters_are_400s_naming_them(
    gw: RunningGateway, params: dict[str, str], param: str, says: str
) -> None:
    response = gw.http.get(EXPORT, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param
    assert says in error["message"], error["message"]


def test_a_cursor_continues_only_its_own_export(gw: RunningGateway) -> None:
    assert gw.http.post(API, json={"name": "Other"}).status_code == 201
    chats(gw, 2)
    gw.wait_for_logs(2)
    cursor = lines_of(gw.http.get(EXPORT, params={"status": "200"}))[0]["cursor"]

    changed = gw.http.get(EXPORT, params={"cursor": cursor, "status": "500"})
    same = gw.http.get(EXPORT, params={"cursor": cursor, "status": "200"})
    elsewhere = gw.http.get(f"{API}/other/logs/export", params={"cursor": cursor})

    assert changed.status_code == 400
    assert changed.json()["error"]["param"] == "status"
    assert "status='500' differs from the export this cursor continues (status='200')" in changed.text
    assert len(lines_of(same)) == 1
    assert elsewhere.status_code == 400
    assert "continues an export of gateway 'default', not 'other'" in elsewhere.json()["error"]["message"]


def test_export_of_a_gateway_that_does_not_exist_is_a_404_naming_the_likeliest(gw: RunningGateway) -> None:
    response = gw.http.get(f"{API}/defualt/logs/export")
    assert response.status_code == 404
    assert (
        response.json()["error"]["message"]
        == "no gateway 'defualt' in account 'local'; did you mean 'default'?"
    )


def test_export_needs_the_read_scope(gw: RunningGateway) -> None:
    created = gw.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "fb", "scopes": ["feedback", "run"]}
    )
    headers = {"Authorization": f"Bearer {created.json()['token']}"}
    response = gw.http.get(EXPORT, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "this token lacks the 'read' scope"


def test_the_cli_resumes_a_file_cut_mid_line(gw: RunningGateway, tmp_path: Path) -> None:
    chats(gw, 6)
    gw.wait_for_logs(6)
    cli = ("--url", gw.url, "--token", gw.settings.admin_token)
    whole, cut = tmp_path / "whole.ndjson", tmp_path / "cut.ndjson"
    assert run_cli(gw.settings.data_dir, "logs", "export", *cli, "-o", str(whole)).returncode == 0
    lines = whole.read_bytes().splitlines(keepends=True)
    # An export killed while writing its fourth line.
    cut.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])

    resumed = run_cli(gw.settings.data_dir, "logs", "export", *cli, "-o", str(cut), "--resume")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "exported 3 record(s)" in resumed.stderr
    assert cut.read_bytes() == whole.read_bytes()
    # Nothing left to resume: nothing added.
    again = run_cli(gw.settings.data_dir, "logs", "export", *cli, "-o", str(cut), "--resume")
    assert "exported 0 record(s)" in again.stderr
    assert cut.read_bytes() == whole.read_bytes()


def breaking_export(lines: list[bytes], cut_after: int) -> web.Application:
    """A gateway whose export sends `cut_after` lines and half the next, then drops the connection."""

    async def export(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write(b"".join(lines[:cut_after]) + lines[cut_after][:20])
        assert request.transport is not None
        request.transport.abort()
        return response

    app = web.Application()
    app.router.add_get(EXPORT, export)
    return app


def test_the_cli_says_how_to_go_on_when_an_export_breaks_off(gw: RunningGateway, tmp_path: Path) -> None:
    chats(gw, 4)
    gw.wait_for_logs(4)
    token = ("--token", gw.settings.admin_token)
    whole, cut = tmp_path / "whole.ndjson", tmp_path / "cut.ndjson"
    assert (
        run_cli(gw.settings.data_dir, "logs", "export", "--url", gw.url, *token, "-o", str(whole)).returncode
        == 0
    )
    lines = whole.read_bytes().splitlines(keepends=True)

    with ServerThread(breaking_export(lines, cut_after=2)) as broken:
        to_file = run_cli(gw.settings.data_dir, "logs", "export", "--url", broken.url, *token, "-o", str(cut))
        to_stdout = run_cli(gw.settings.data_dir, "logs", "export", "--url", broken.url, *token)

    assert to_file.returncode == 1
    assert "error: the export stopped after 2 record(s): the gateway's answer broke off" in to_file.stderr
    assert f"continue it with --output {cut} --resume" in to_file.stderr
    assert cut.read_bytes() == b"".join(lines[:2])  # whole lines only
    assert to_stdout.returncode == 1
    assert to_stdout.stdout.encode() == b"".join(lines[:2])
    assert f"continue it with --cursor {json.loads(lines[1])['cursor']}" in to_stdout.stderr
    resumed = run_cli(
        gw.settings.data_dir, "logs", "export", "--url", gw.url, *token, "-o", str(cut), "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr
    assert cut.read_bytes() == whole.read_bytes()


def test_the_cli_export_to_stdout_and_its_errors(gw: RunningGateway, tmp_path: Path) -> None:
    ids = chats(gw, 2)
    gw.wait_for_logs(2)
    data_dir = gw.settings.data_dir
    cli = ("--url", gw.url, "--token", gw.settings.admin_token)

    printed = run_cli(data_dir, "logs", "export", *cli, "--limit", "1")

    assert printed.returncode == 0, printed.stderr
    assert [json.loads(line)["id"] for line in printed.stdout.splitlines()] == ids[:1]
    assert "exported 1 record(s) of gateway default to stdout" in printed.stderr
    cursor = json.loads(printed.stdout)["cursor"]
    rest = run_cli(data_dir, "logs", "export", *cli, "--cursor", cursor)
    assert [json.loads(line)["id"] for line in rest.stdout.splitlines()] == ids[1:]
    bad = run_cli(data_dir, "logs", "export", *cli, "--status", "5x")
    assert bad.returncode == 1
    assert "error: 400 status must be a code like 429 or a class like 5xx" in bad.stderr
    no_file = run_cli(data_dir, "logs", "export", *cli, "--resume")
    assert no_file.returncode == 2
    assert "--resume continues the file given with --output" in no_file.stderr
    not_export = tmp_path / "other.ndjson"
    not_export.write_text('{"hello": "world"}\n')
    refused = run_cli(data_dir, "logs", "export", *cli, "-o", str(not_export), "--resume")
    assert refused.returncode == 1
    assert "holds no export cursor" in refused.stderr
    assert not_export.read_text() == '{"hello": "world"}\n'
    # The plain `logs` command still lists records.
    listed = run_cli(
        data_dir, "logs", "--limit", "1", env={"SLUICEGATE_DATABASE_URL": gw.settings.stores.database_url}
    )
    assert listed.returncode == 0, listed.stderr
    assert ids[1] in listed.stdout


def test_a_refused_export_leaves_the_output_file_as_it_was(gw: RunningGateway, tmp_path: Path) -> None:
    chats(gw, 1)
    gw.wait_for_logs(1)
    cli = ("--url", gw.url, "--token", gw.settings.admin_token)
    kept, new = tmp_path / "kept.ndjson", tmp_path / "new.ndjson"
    kept.write_text('{"an": "earlier export"}\n')

    for refused in (("--gateway", "nope"), ("--from", "yesterday")):
        for output in (kept, new):
            failed = run_cli(gw.settings.data_dir, "logs", "export", *cli, *refused, "-o", str(output))
            assert failed.returncode == 1, failed.stderr
            assert failed.stderr.startswith("error: 40"), failed.stderr
            # Opened first, the file was truncated (or made empty) before the gateway answered.
            assert kept.read_text() == '{"an": "earlier export"}\n'
            assert not new.exists()
    nothing = run_cli(gw.settings.data_dir, "logs", "export", *cli, "--from", "2999-01-01", "-o", str(new))
    assert nothing.returncode == 0, nothing.stderr
    assert new.read_bytes() == b""  # an export of no records is an empty file


def test_import_names_the_line_and_field_it_cannot_read(gw: RunningGateway, tmp_path: Path) -> None:
    ids = chats(gw, 2)
    gw.wait_for_logs(2)
    lines = lines_of(gw.http.get(EXPORT))
    bad = tmp_path / "bad.ndjson"
    broken = {**lines[1], "status": "200"}
    bad.write_text(json.dumps(lines[0]) + "\n\n" + json.dumps(broken) + "\n")
    data_dir = tmp_path / "fresh"
    assert run_cli(data_dir, "migrate").returncode == 0

    imported = run_cli(data_dir, "logs", "import", str(bad))

    assert imported.returncode == 1
    assert f"{bad}: line 3: field 'status' must be an integer, got a string" in imported.stderr
    assert "the records before it were imported" in imported.stderr
    assert [r.id for r in stored_records(f"sqlite:///{data_dir / 'sluicegate.db'}")] == ids[:1]
    newer = {**lines[1], "written_by_a_newer_release": True}
    bad.write_text(json.dumps(newer) + "\n")
    unknown = run_cli(data_dir, "logs", "import", str(bad))
    assert "line 1: unknown field 'written_by_a_newer_release'" in unknown.stderr
