"""The admin API over HTTP: gateways CRUD, the OpenAPI document, and the logs API with its filters.

A real gateway on loopback, the official OpenAI SDK as the client, the fake OpenAI as the upstream.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import openai
import pytest
from aiohttp import web
from openai import OpenAI

from sluicegate.app import create_app
from sluicegate.config import Settings
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

API = "/api/v1/accounts/local/gateways"
LOG_ID = "cf-aig-log-id"
USER: list[Any] = [{"role": "user", "content": "hello there world"}]
METADATA = {"team": "search", "attempt": 2}


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def default_settings(gw: RunningGateway) -> dict[str, Any]:
    """Every settings field at its default, as the server reports them for the built-in gateway."""
    settings: dict[str, Any] = gw.http.get(f"{API}/default").json()["settings"]
    assert settings["collect_logs"] is True
    assert settings["request_timeout_ms"] is None
    return settings


def sdk(gw: RunningGateway, gateway: str = "default") -> OpenAI:
    return OpenAI(base_url=gw.provider_url("openai", gateway), api_key="sk-test", max_retries=0)


def chat(client: OpenAI, model: str = "gpt-4o", **kwargs: Any) -> str:
    """One plain chat completion; its log id."""
    raw = client.chat.completions.with_raw_response.create(model=model, messages=USER, **kwargs)
    assert raw.parse().choices[0].message.content == "echo: hello there world"
    return raw.headers[LOG_ID]


def unlogged_chat(client: OpenAI) -> None:
    """One plain chat completion through a gateway that keeps no record of it: its answer names none."""
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=USER)
    assert raw.parse().choices[0].message.content == "echo: hello there world"
    assert LOG_ID not in raw.headers


def stream_chat(client: OpenAI, model: str = "gpt-4o") -> str:
    """One streamed chat completion, read to the end; its log id."""
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "echo: hello there world"
    return raw.headers[LOG_ID]


def create(gw: RunningGateway, **body: Any) -> dict[str, Any]:
    response = gw.http.post(API, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: Any, status: int) -> dict[str, Any]:
    """The JSON error of `response`, after checking its status and content type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = response.json()["error"]
    return error


# Gateways CRUD


def test_create_without_slug_derives_it_from_the_name(gw: RunningGateway) -> None:
    created = create(gw, name="My Team")

    assert created["slug"] == "my-team"
    assert created["name"] == "My Team"
    assert created["account"] == "local"
    assert created["settings"] == default_settings(gw)
    assert created["created_at"] == pytest.approx(time.time(), abs=60)


def test_create_with_slug_and_settings_keeps_them(gw: RunningGateway) -> None:
    created = create(gw, name="Research", slug="lab-7", settings={"request_timeout_ms": 5000})

    assert (created["slug"], created["name"]) == ("lab-7", "Research")
    assert created["settings"] == default_settings(gw) | {"request_timeout_ms": 5000}
    assert gw.http.get(f"{API}/lab-7").json() == created


def test_create_with_a_taken_slug_is_a_409_json_error(gw: RunningGateway) -> None:
    create(gw, name="My Team")

    for body in ({"name": "my team"}, {"name": "Other", "slug": "my-team"}, {"name": "Default"}):
        error = error_of(gw.http.post(API, json=body), 409)
        assert error["code"] == "conflict"
        assert "already exists" in error["message"]
    assert gw.http.get(f"{API}/my-team").json()["name"] == "My Team"


def test_create_from_a_name_without_slug_characters_asks_for_a_slug(gw: RunningGateway) -> None:
    error = error_of(gw.http.post(API, json={"name": "!!!"}), 400)

    assert error["field"] == "slug"


def test_get_returns_the_gateway_and_404_for_an_unknown_one(gw: RunningGateway) -> None:
    created = create(gw, name="My Team")

    assert gw.http.get(f"{API}/my-team").json() == created
    error = error_of(gw.http.get(f"{API}/nobody"), 404)
    assert error["code"] == "not_found"
    assert "nobody" in error["message"]


def test_list_shows_every_gateway_of_the_account_by_slug(gw: RunningGateway) -> None:
    create(gw, name="Zeta")
    create(gw, name="Alpha")

    listed = gw.http.get(API).json()["result"]

    assert [g["slug"] for g in listed] == ["alpha", "default", "zeta"]
    # The admin token belongs to account `local`: another account's gateways are not its to see.
    assert gw.http.get("/api/v1/accounts/elsewhere/gateways").status_code == 403


def test_patch_renames_and_merges_settings(gw: RunningGateway) -> None:
    create(gw, name="My Team", settings={"request_timeout_ms": 5000})

    renamed = gw.http.patch(f"{API}/my-team", json={"name": "Our Team"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Our Team"
    timed = default_settings(gw) | {"request_timeout_ms": 5000}
    assert renamed.json()["settings"] == timed

    merged = gw.http.patch(f"{API}/my-team", json={"settings": {"collect_logs": False}})
    assert merged.status_code == 200, merged.text
    # Only the given key changed: the timeout set at creation survives, and so does the new name.
    expected = timed | {"collect_logs": False}
    assert merged.json()["settings"] == expected
    stored = gw.http.get(f"{API}/my-team").json()
    assert (stored["name"], stored["settings"], stored["slug"]) == ("Our Team", expected, "my-team")


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"collect_logs": "maybe"}, "settings.collect_logs"),
        ({"request_timeout_ms": -5}, "settings.request_timeout_ms"),
        ({"request_timeout_ms": "soon"}, "settings.request_timeout_ms"),
        ({"colour": "red"}, "settings.colour"),
    ],
)
def test_patch_with_invalid_settings_is_a_400_naming_the_field(
    gw: RunningGateway, settings: dict[str, Any], field: str
) -> None:
    create(gw, name="My Team")

    error = error_of(gw.http.patch(f"{API}/my-team", json={"settings": settings}), 400)

    assert error["field"] == field
    assert error["message"].startswith(field)
    assert gw.http.get(f"{API}/my-team").json()["settings"] == default_settings(gw)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_malformed_json_is_a_400(gw: RunningGateway, method: str) -> None:
    url = API if method == "POST" else f"{API}/default"
    response = gw.http.request(
        method, url, content=b'{"name": "x",', headers={"content-type": "application/json"}
    )

    error = error_of(response, 400)
    assert error["code"] == "bad_request"
    assert "JSON" in error["message"]


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("POST", {"name": "x", "colour": "red"}, "colour"),
        ("POST", {"name": "x", "settings": {"not_a_setting": 60}}, "settings.not_a_setting"),
        ("PATCH", {"slug": "renamed"}, "slug"),
    ],
)
def test_unknown_field_is_a_400_naming_it(
    gw: RunningGateway, method: str, body: dict[str, Any], field: str
) -> None:
    url = API if method == "POST" else f"{API}/default"

    error = error_of(gw.http.request(method, url, json=body), 400)

    assert error["field"] == field
    assert [g["slug"] for g in gw.http.get(API).json()["result"]] == ["default"]


def test_patch_of_an_unknown_gateway_is_a_404(gw: RunningGateway) -> None:
    error = error_of(gw.http.patch(f"{API}/nobody", json={"name": "x"}), 404)

    assert error["code"] == "not_found"


def test_the_logs_of_an_unknown_gateway_are_a_404_naming_the_one_meant(gw: RunningGateway) -> None:
    # A monitoring script with a typo in the gateway's name must not see an empty, quiet gateway.
    error = error_of(gw.http.get(f"{API}/defualt/logs"), 404)

    assert "did you mean 'default'?" in error["message"]


def test_delete_answers_204_then_the_gateway_is_gone(gw: RunningGateway) -> None:
    create(gw, name="My Team")

    deleted = gw.http.delete(f"{API}/my-team")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert error_of(gw.http.get(f"{API}/my-team"), 404)["code"] == "not_found"
    assert error_of(gw.http.delete(f"{API}/my-team"), 404)["code"] == "not_found"
    assert [g["slug"] for g in gw.http.get(API).json()["result"]] == ["default"]


# Gateways as proxy endpoints


def test_a_created_gateway_proxies_at_once_and_keeps_its_own_logs(gw: RunningGateway) -> None:
    with sdk(gw, "my-team") as team, sdk(gw) as default:
        # Asked for before it exists, so the server has the slug cached as unknown.
        with pytest.raises(openai.NotFoundError):
            chat(team)
        create(gw, name="My Team")

        team_id = chat(team)
        default_id = chat(default)

    team_logs = gw.wait_for_logs(1, "my-team", status="200")
    default_logs = gw.wait_for_logs(1)
    assert [r["id"] for r in team_logs] == [team_id]
    assert team_logs[0]["gateway"] == "my-team"
    assert [r["id"] for r in default_logs] == [default_id]


def test_a_deleted_gateway_answers_404_listing_the_remaining_ones(gw: RunningGateway) -> None:
    create(gw, name="Alpha")
    create(gw, name="Beta")
    with sdk(gw, "alpha") as alpha:
        chat(alpha)
        assert gw.http.delete(f"{API}/alpha").status_code == 204

        with pytest.raises(openai.NotFoundError) as caught:
            chat(alpha)

    body = caught.value.response.json()
    assert body["error"]["code"] == "unknown_gateway"
    assert body["error"]["gateways"] == ["beta", "default"]
    assert "alpha" in body["error"]["message"]


def test_collect_logs_false_leaves_no_records(gw: RunningGateway) -> None:
    create(gw, name="Quiet", settings={"collect_logs": False})
    with sdk(gw, "quiet") as quiet, sdk(gw) as default:
        unlogged_chat(quiet)
        default_id = chat(default)

    # Records go out in batches in arrival order: once the later one is in, the earlier one would be.
    assert [r["id"] for r in gw.wait_for_logs(1)] == [default_id]
    assert gw.logs("quiet") == []


def test_turning_collect_logs_off_applies_to_the_next_request(gw: RunningGateway) -> None:
    create(gw, name="Team")
    with sdk(gw, "team") as team, sdk(gw) as default:
        logged_id = chat(team)
        assert [r["id"] for r in gw.wait_for_logs(1, "team")] == [logged_id]
        patched = gw.http.patch(f"{API}/team", json={"settings": {"collect_logs": False}})
        assert patched.status_code == 200, patched.text

        unlogged_chat(team)
        default_id = chat(default)

    assert [r["id"] for r in gw.wait_for_logs(1)] == [default_id]
    assert [r["id"] for r in gw.logs("team")] == [logged_id]


# The OpenAPI document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def served_admin_operations(settings: Settings) -> dict[str, set[str]]:
    """Path -> methods, as the app's router serves them under /api/v1 (HEAD and the schema itself aside)."""
    operations: dict[str, set[str]] = {}
    for resource in create_app(settings).router.resources():
        if isinstance(resource, web.PrefixedSubAppResource) and resource.canonical == "/api/v1":
            for route in resource.get_info()["app"].router.routes():
                path = route.resource.canonical if route.resource else ""
                if route.method != "HEAD" and path != "/api/v1/openapi.json":
                    operations.setdefault(path, set()).add(route.method.lower())
    return operations


def test_openapi_document_is_3_1_and_lists_every_admin_operation(gw: RunningGateway) -> None:
    response = gw.http.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()

    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    operations = {path: set(item) & HTTP_METHODS for path, item in doc["paths"].items()}
    served = served_admin_operations(gw.settings)
    assert "/api/v1/accounts/{account}/gateways/{gateway}/logs" in served
    assert operations == served
    schemas = doc["components"]["schemas"]
    assert {"GatewayCreate", "GatewayUpdate", "GatewayOut", "LogEntry", "LogPage"} <= set(schemas)
    refs = set(_refs(doc))
    assert refs
    assert {ref.removeprefix("#/components/schemas/") for ref in refs} <= set(schemas)
    for path, item in doc["paths"].items():
        declared = {p["name"] for p in item.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
        for method in set(item) & HTTP_METHODS:
            assert item[method]["responses"], (method, path)


def test_every_documented_operation_reaches_a_handler(gw: RunningGateway) -> None:
    """Each documented path and method is served: an answer from its handler, not a routing miss."""
    paths = gw.http.get("/api/v1/openapi.json").json()["paths"]
    assert paths
    for template, item in paths.items():
        path = re.sub(r"{(\w+)}", lambda m: "local" if m[1] == "account" else "ghost", template)
        for method in set(item) & HTTP_METHODS:
            body = b"{}" if method in ("post", "patch") else None
            response = gw.http.request(method.upper(), path, content=body)
            assert response.status_code != 405, (method, path)
            assert response.status_code < 500, (method, path, response.text)
            if response.status_code == 404:
                # A routing miss is the admin API's or the catch-all's "no route for ..."
                # (test_admin_route_misses.py); a handler's 404 names what it did not find.
                error = response.json()["error"]
                assert isinstance(error["code"], str), (method, path)
                assert not error["message"].startswith("no route"), (method, path)


# The logs API


@dataclass(frozen=True)
class Traffic:
    """Requests made through the default gateway; `ids` in the order they were made."""

    ids: dict[str, str]
    started: float
    middle: float

    @property
    def newest_first(self) -> list[str]:
        return list(reversed(self.ids.values()))


@pytest.fixture
def traffic(gw: RunningGateway) -> Traffic:
    ids: dict[str, str] = {}
    started = time.time()
    with sdk(gw) as client:
        ids["plain"] = chat(client, extra_headers={"cf-aig-metadata": json.dumps(METADATA)})
        ids["mini"] = chat(client, "gpt-4o-mini")
        middle = time.time()
        with pytest.raises(openai.InternalServerError) as caught:
            chat(client, "error-500")
        ids["error"] = caught.value.response.headers[LOG_ID]
        ids["stream"] = stream_chat(client)
        raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input="hi there")
        assert len(raw.parse().data) == 1
        ids["embedding"] = raw.headers[LOG_ID]
    unknown = gw.http.post(
        "/v1/local/default/nope/chat/completions", json={"model": "gpt-4o", "messages": USER}
    )
    assert unknown.status_code == 404
    ids["unknown-provider"] = unknown.headers[LOG_ID]
    assert len(gw.wait_for_logs(len(ids))) == len(ids)
    return Traffic(ids, started, middle)


def ids_of(gw: RunningGateway, **params: Any) -> list[str]:
    return [r["id"] for r in gw.logs(**params)]


def test_each_request_has_one_record_whose_id_is_its_log_id_header(
    gw: RunningGateway, traffic: Traffic
) -> None:
    records = gw.logs()

    assert [r["id"] for r in records] == traffic.newest_first
    assert len(set(traffic.ids.values())) == len(traffic.ids)
    by_id = {r["id"]: r for r in records}
    assert by_id[traffic.ids["plain"]]["metadata"] == METADATA
    assert by_id[traffic.ids["stream"]]["stream"] is True
    assert by_id[traffic.ids["plain"]]["stream"] is False
    assert by_id[traffic.ids["plain"]]["tokens_in"] == 9
    assert by_id[traffic.ids["plain"]]["tokens_out"] == 4
    assert "server had an error" in by_id[traffic.ids["error"]]["error"]
    # The list view leaves out bodies and headers.
    assert all(r["request_body"] is r["response_body"] is r["request_headers"] is None for r in records)


def test_provider_filter(gw: RunningGateway, traffic: Traffic) -> None:
    assert ids_of(gw, provider="nope") == [traffic.ids["unknown-provider"]]
    assert ids_of(gw, provider="openai") == traffic.newest_first[1:]
    assert ids_of(gw, provider="anthropic") == []


def test_model_filter(gw: RunningGateway, traffic: Traffic) -> None:
    assert ids_of(gw, model="gpt-4o") == [traffic.ids["stream"], traffic.ids["plain"]]
    assert ids_of(gw, model="gpt-4o-mini") == [traffic.ids["mini"]]
    assert ids_of(gw, model="error-500") == [traffic.ids["error"]]
    assert ids_of(gw, model="gpt-5") == []


def test_status_filters(gw: RunningGateway, traffic: Traffic) -> None:
    ok = [traffic.ids[k] for k in ("embedding", "stream", "mini", "plain")]

    assert ids_of(gw, status="5xx") == [traffic.ids["error"]]
    assert ids_of(gw, status="500") == [traffic.ids["error"]]
    assert ids_of(gw, status="200") == ok
    assert ids_of(gw, status="2xx") == ok
    assert ids_of(gw, status="4xx") == [traffic.ids["unknown-provider"]]
    assert ids_of(gw, status="429") == []
    assert ids_of(gw, status="5xx", model="gpt-4o") == []


def _epoch(ts: float) -> str:
    return repr(ts)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _iso_offset(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone().isoformat()


def test_time_filters_take_epoch_seconds_and_iso_8601(gw: RunningGateway, traffic: Traffic) -> None:
    newest = traffic.newest_first
    for fmt in (_epoch, _iso, _iso_offset):
        after_middle = {"from": fmt(traffic.middle)}
        assert ids_of(gw, **after_middle) == newest[:-2], fmt.__name__
        assert ids_of(gw, to=fmt(traffic.middle)) == newest[-2:], fmt.__name__
        window = {"from": fmt(traffic.started), "to": fmt(time.time() + 1)}
        assert ids_of(gw, **window) == newest, fmt.__name__
        assert ids_of(gw, to=fmt(traffic.started - 1)) == [], fmt.__name__
        assert ids_of(gw, **{"from": fmt(time.time() + 60)}) == [], fmt.__name__
    # A `to` long past yields nothing, whichever way it is written.
    assert ids_of(gw, to="2001-09-09T01:46:40Z") == []
    assert ids_of(gw, to="1000000000") == []


def test_limit_and_cursor_walk_every_record_once_newest_first(gw: RunningGateway, traffic: Traffic) -> None:
    for limit in (1, 2, 4, len(traffic.ids), 50):
        assert walk(gw, limit) == traffic.newest_first, f"limit={limit}"


def walk(gw: RunningGateway, limit: int) -> list[str]:
    """Every id the listing gives, page by page, following `next_cursor` until it is null."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = gw.http.get(f"{API}/default/logs", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["result"]) <= limit
        seen += [r["id"] for r in page["result"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert cursor == seen[-1]
    raise AssertionError(f"pagination with limit={limit} did not end")


def test_filters_combine_with_pagination(gw: RunningGateway, traffic: Traffic) -> None:
    first = gw.http.get(f"{API}/default/logs", params={"status": "200", "limit": 3}).json()
    rest = gw.http.get(
        f"{API}/default/logs", params={"status": "200", "limit": 3, "cursor": first["next_cursor"]}
    ).json()

    ids = [r["id"] for r in first["result"] + rest["result"]]
    assert ids == [traffic.ids[k] for k in ("embedding", "stream", "mini", "plain")]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-45"}, "to"),
        ({"status": "5x"}, "status"),
        ({"status": "ok"}, "status"),
        ({"status": "2000"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cached": "maybe"}, "cached"),
    ],
)
def test_bad_log_parameters_are_a_400_naming_them(
    gw: RunningGateway, params: dict[str, str], param: str
) -> None:
    error = error_of(gw.http.get(f"{API}/default/logs", params=params), 400)

    assert error["param"] == param
    assert error["message"].startswith(param)


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"modle": "gpt-4o"}, "modle", "unknown parameter 'modle'; did you mean 'model'?"),
        ({"stauts": "5xx"}, "stauts", "unknown parameter 'stauts'; did you mean 'status'?"),
        ({"model": "gpt-4o", "gateway": "default"}, "gateway", "unknown parameter 'gateway'; known: cached,"),
        (
            {"cursor": "not-a-cursor"},
            "cursor",
            "cursor must be the next_cursor of the previous page (a log id), got 'not-a-cursor'",
        ),
    ],
)
def test_misspelt_parameters_and_bad_cursors_are_400s_not_every_record(
    gw: RunningGateway, traffic: Traffic, params: dict[str, str], param: str, message: str
) -> None:
    # Ignored, each answered every record unfiltered, as if the filter matched them all.
    error = error_of(gw.http.get(f"{API}/default/logs", params=params), 400)

    assert error["param"] == param
    assert error["message"].startswith(message), error["message"]


def test_a_cursor_is_a_log_id(gw: RunningGateway, traffic: Traffic) -> None:
    # Upper-case hex sorts before every id: taken, it answered an empty page as if the walk had ended.
    listed = gw.http.get(f"{API}/default/logs", params={"cursor": "F" * 32})
    assert error_of(listed, 400)["param"] == "cursor"
    assert ids_of(gw, cursor="0" * 32) == []  # a log id before every record: an empty page
    assert ids_of(gw, cursor=traffic.newest_first[1]) == traffic.newest_first[2:]


def test_single_record_has_bodies_and_masked_secret_headers(gw: RunningGateway, traffic: Traffic) -> None:
    response = gw.http.get(f"{API}/default/logs/{traffic.ids['plain']}")
    assert response.status_code == 200, response.text
    record = response.json()

    assert record["id"] == traffic.ids["plain"]
    assert (record["gateway"], record["provider"], record["model"]) == ("default", "openai", "gpt-4o")
    assert (record["method"], record["endpoint"], record["status"]) == ("POST", "chat/completions", 200)
    request = json.loads(record["request_body"])
    assert request["model"] == "gpt-4o"
    assert request["messages"] == USER
    response_body = json.loads(record["response_body"])
    assert response_body["choices"][0]["message"]["content"] == "echo: hello there world"
    headers = record["request_headers"]
    assert headers["authorization"] == "[redacted]"
    assert "sk-test" not in json.dumps(record)
    assert headers["cf-aig-metadata"] == json.dumps(METADATA)
    assert record["metadata"] == METADATA


def test_single_streamed_record_keeps_the_event_stream(gw: RunningGateway, traffic: Traffic) -> None:
    record = gw.http.get(f"{API}/default/logs/{traffic.ids['stream']}").json()

    assert record["stream"] is True
    assert json.loads(record["request_body"])["stream"] is True
    assert record["response_body"].startswith("data: ")
    assert record["response_body"].rstrip().endswith("data: [DONE]")
    assert (record["tokens_in"], record["tokens_out"]) == (9, 4)


def test_a_streaming_request_refused_before_its_first_byte_is_logged_as_a_stream(gw: RunningGateway) -> None:
    with sdk(gw) as client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="error-503", messages=USER, stream=True)
    (record,) = gw.wait_for_logs(1)
    assert (record["status"], record["stream"]) == (503, True)


def test_a_streamed_record_keeps_only_the_last_log_tee_bytes(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gw = make_gateway(upstreams={"openai": fake.base_url}, limits={"log_tee_bytes": 100})
    body = {"model": "gpt-4o", "stream": True, "messages": USER}
    # The fake pauses after its first event, so the stream reaches the gateway in at least two chunks.
    # (no-usage: without the usage chunk the gateway asks for and takes out, the client gets what is
    # logged; with it asked, every chunk starts with the same 200 bytes, `"usage":null` among them.)
    paused = {"x-fake-behavior": "pause-stream,no-usage"}
    with gw.http.stream(
        "POST", "/v1/local/default/openai/chat/completions", json=body, headers=paused
    ) as response:
        assert fake.first_chunk_sent.wait(5)
        fake.release()
        streamed = b"".join(response.iter_bytes())
        log_id = response.headers[LOG_ID]
    gw.wait_for_logs(1)
    record = gw.http.get(f"{API}/default/logs/{log_id}").json()

    assert len(streamed) > 300
    # Whole chunks from the end (the last one even when it alone is over the limit), never the first
    # event, which the log's own body limit (256 KiB) would have kept.
    assert len(record["response_body"]) < len(streamed)
    assert not record["response_body"].startswith(streamed[:300].decode())
    assert record["response_body"].rstrip().endswith("data: [DONE]")


def test_single_record_is_404_when_unknown_or_in_another_gateway(
    gw: RunningGateway, traffic: Traffic
) -> None:
    create(gw, name="Other")

    assert error_of(gw.http.get(f"{API}/default/logs/0000nothing"), 404)["code"] == "not_found"
    assert error_of(gw.http.get(f"{API}/other/logs/{traffic.ids['plain']}"), 404)["code"] == "not_found"
    other_account = f"/api/v1/accounts/elsewhere/gateways/default/logs/{traffic.ids['plain']}"
    assert error_of(gw.http.get(other_account), 403)["code"] == "forbidden"  # not this token's account
