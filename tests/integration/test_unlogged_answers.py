"""An answer whose request keeps no log record names none: no `cf-aig-log-id` for a request sent with
`cf-aig-collect-log: false` or through a gateway whose `collect_logs` is off, so no client is handed
an id that 404s in the logs and feedback APIs. The official openai SDK is the client, a fake OpenAI
server the upstream, on loopback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtime
from tests.integration.test_realtime import KEY, ws_url

LOG_ID = "cf-aig-log-id"
QUIET = {"cf-aig-collect-log": "false"}
API = "/api/v1/accounts/local/gateways"
USER: list[Any] = [{"role": "user", "content": "keep this off the record"}]


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def sdk(gw: RunningGateway, gateway: str = "default") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.provider_url("openai", gateway), api_key="sk-test", max_retries=0)


def chat_headers(
    gw: RunningGateway, gateway: str = "default", headers: dict[str, str] | None = None, stream: bool = False
) -> Any:
    """The answer headers of one chat completion with `headers` (a stream read to its end)."""
    headers = headers or {}
    with sdk(gw, gateway) as client:
        if not stream:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=USER, extra_headers=headers
            )
            assert raw.parse().choices[0].message.content
            return raw.headers
        with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=USER, stream=True, extra_headers=headers
        ) as response:
            assert list(response.parse())
            return response.headers


def only_logged(
    gw: RunningGateway, gateway: str = "default", expected: tuple[str, ...] = (), stream: bool = False
) -> list[str]:
    """The ids of `gateway`'s records once `expected` and one more request of the same kind (a
    logged one) are recorded: records of like requests are written in arrival order, so an earlier
    record kept by mistake would be in by then."""
    marker = chat_headers(gw, gateway, {"cf-aig-collect-log": "true"}, stream=stream)[LOG_ID]
    deadline = time.monotonic() + 10
    while not {marker, *expected} <= set(ids := [record["id"] for record in gw.logs(gateway, limit=50)]):
        assert time.monotonic() < deadline, "a logged request's record was never written"
        time.sleep(0.02)
    return [log_id for log_id in ids if log_id != marker]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_answer_asked_not_to_be_logged_carries_no_log_id(gw: RunningGateway, stream: bool) -> None:
    logged = chat_headers(gw, stream=stream)
    quiet = chat_headers(gw, headers=QUIET, stream=stream)

    assert LOG_ID not in quiet
    assert only_logged(gw, expected=(logged[LOG_ID],), stream=stream) == [logged[LOG_ID]]


def test_an_error_answer_asked_not_to_be_logged_carries_no_log_id(gw: RunningGateway) -> None:
    with sdk(gw) as client, pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="error-500", messages=USER, extra_headers=QUIET)

    assert LOG_ID not in failed.value.response.headers
    assert only_logged(gw) == []


def test_a_request_refused_for_another_header_still_goes_unlogged(gw: RunningGateway) -> None:
    """`cf-aig-collect-log` is read before the headers that may refuse the request: a client that
    asked not to be logged is not, because its metadata was malformed."""
    with sdk(gw) as client, pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, extra_headers={**QUIET, "cf-aig-metadata": "{not json"}
        )

    assert refused.value.response.json()["error"]["header"] == "cf-aig-metadata"
    assert LOG_ID not in refused.value.response.headers
    assert only_logged(gw) == []


def test_a_gateway_that_keeps_no_logs_answers_without_log_ids_unless_a_request_asks_for_one(
    gw: RunningGateway,
) -> None:
    created = gw.http.post(API, json={"name": "quiet", "settings": {"collect_logs": False}})
    assert created.status_code == 201, created.text

    assert LOG_ID not in chat_headers(gw, "quiet", stream=True)
    assert LOG_ID not in chat_headers(gw, "quiet")
    # Cloudflare: "if logging is disabled at the gateway level, this header will save the log".
    assert only_logged(gw, "quiet") == []


@pytest.mark.parametrize("backend", ["embedded"])  # two gateways, two databases (scaled shares one)
def test_an_upstream_gateways_log_id_is_not_passed_on_for_an_unlogged_request(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, tmp_path: Path
) -> None:
    """A gateway in front of another (both Sluicegate here): the inner one's `cf-aig-log-id` names
    a record of the inner gateway, none of the outer one's."""
    inner = make_gateway(upstreams={"openai": fake.base_url}, data_dir=tmp_path / "inner")
    outer = make_gateway(upstreams={"openai": inner.provider_url("openai")}, data_dir=tmp_path / "outer")

    assert LOG_ID in chat_headers(inner)  # the inner gateway names its records
    assert LOG_ID not in chat_headers(outer, headers=QUIET)
    assert only_logged(outer) == []


def test_feedback_on_an_id_with_no_record_says_why_there_may_be_none(gw: RunningGateway) -> None:
    missing = "0" * 32
    answered = gw.http.patch(f"{API}/default/logs/{missing}", content=json.dumps({"feedback": 1}))

    assert answered.status_code == 404, answered.text
    message = answered.json()["error"]["message"]
    assert message.startswith(f"no log {missing!r} in gateway 'default'. ")
    assert "cf-aig-collect-log: false" in message
    assert "collect_logs is off" in message
    assert "no cf-aig-log-id" in message
    assert gw.http.get(f"{API}/default/logs/{missing}").json()["error"]["message"] == message


@pytest.fixture
def realtime() -> Iterator[FakeRealtime]:
    with FakeRealtime().serve() as fake:
        yield fake


@pytest.mark.parametrize("backend", ["embedded"])  # the handshake's headers, whatever the storage
def test_an_unlogged_realtime_session_names_no_log_id(
    make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime
) -> None:
    gw = make_gateway(upstreams={"openai": realtime.base_url})
    key = {"Authorization": f"Bearer {KEY}"}

    with connect(ws_url(gw), additional_headers=key, open_timeout=10) as logged:
        assert logged.response is not None
        assert logged.response.headers.get(LOG_ID)
    with connect(ws_url(gw), additional_headers={**key, **QUIET}, open_timeout=10) as quiet:
        assert quiet.response is not None
        assert quiet.response.headers.get(LOG_ID) is None
