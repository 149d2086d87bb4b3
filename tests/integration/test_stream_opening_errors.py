"""A stream whose first event is the provider's error, after a 200: Anthropic reports overload so
(https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events), OpenAI with
`data: {"error": ...}`. Nothing has reached the client yet, so it is the failure it names: retried
and fallen back from as that status; with no try left, the client gets it as sent. Official SDKs
against the fakes on loopback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

MODEL = "claude-sonnet-4-6"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], claude: FakeAnthropic, fake: FakeOpenAI
) -> RunningGateway:
    return make_gateway(upstreams={"anthropic": claude.base_url, "openai": fake.base_url})


@pytest.fixture
def claude_sdk() -> Iterator[Callable[[str], anthropic.Anthropic]]:
    clients: list[anthropic.Anthropic] = []

    def make(base_url: str) -> anthropic.Anthropic:
        http = anthropic.DefaultHttpxClient(verify=False)
        clients.append(
            anthropic.Anthropic(base_url=base_url, api_key="sk-ant-test", max_retries=0, http_client=http)
        )
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def behaving(behavior: str, **headers: str) -> dict[str, str]:
    return {
        "x-fake-behavior": behavior,
        "x-fake-key": str(uuid.uuid4()),
        "cf-aig-retry-delay": "0",
        **headers,
    }


def attempts(record: dict[str, Any]) -> list[tuple[int, int]]:
    return [(a["step"], a["status"]) for a in record["attempts"]]


def test_an_overloaded_stream_is_retried_as_a_529(
    gateway: RunningGateway, claude: FakeAnthropic, claude_sdk: Callable[[str], anthropic.Anthropic]
) -> None:
    headers = behaving("fail-2-then-ok,stream-error-529", **{"cf-aig-max-attempts": "3"})
    client = claude_sdk(gateway.provider_url("anthropic"))
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=MESSAGES, extra_headers=headers
    ) as stream:
        text = stream.get_final_text()
    assert text == "echo: what is the capital of France"
    assert len(claude.requests) == 3
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["error"]) == (200, None)
    assert attempts(record) == [(0, 529), (0, 529), (0, 200)]
    assert "error event" in record["attempts"][0]["error"]


def test_an_overloaded_stream_falls_back_to_the_next_universal_step(
    gateway: RunningGateway, claude: FakeAnthropic, fake: FakeOpenAI
) -> None:
    first = {
        "provider": "anthropic",
        "endpoint": "v1/messages",
        "headers": {"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01"}
        | behaving("stream-error-529"),
        "query": {"model": MODEL, "max_tokens": 256, "messages": MESSAGES, "stream": True},
    }
    second = {
        "provider": "openai",
        "endpoint": "chat/completions",
        "headers": {"Authorization": "Bearer sk-test"},
        "query": {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True},
    }
    with gateway.http.stream("POST", "/v1/local/default", json=[first, second]) as response:
        assert (response.status_code, response.headers["cf-aig-step"]) == (200, "1")
        body = b"".join(response.iter_bytes())
    assert b"overloaded_error" not in body
    assert body.endswith(b"data: [DONE]\n\n")
    assert (len(claude.requests), len(fake.requests)) == (1, 1)
    record = gateway.wait_for_logs(1)[0]
    assert attempts(record) == [(0, 529), (1, 200)]
    assert (record["provider"], record["error"]) == ("openai", None)


def test_with_no_try_left_the_client_gets_the_stream_as_the_provider_sent_it(
    gateway: RunningGateway, claude: FakeAnthropic, claude_sdk: Callable[[str], anthropic.Anthropic]
) -> None:
    def overloaded(base_url: str, **headers: str) -> anthropic.APIStatusError:
        stream = claude_sdk(base_url).messages.create(
            model=MODEL,
            max_tokens=256,
            messages=MESSAGES,
            stream=True,
            extra_headers=behaving("stream-error-529", **headers),
        )
        with pytest.raises(anthropic.APIStatusError) as caught:
            list(stream)
        return caught.value

    direct = overloaded(claude.base_url)
    claude.clear()
    proxied = overloaded(gateway.provider_url("anthropic"), **{"cf-aig-max-attempts": "2"})
    assert (type(proxied), proxied.status_code, proxied.body) == (
        type(direct),
        direct.status_code,
        direct.body,
    )
    assert proxied.body == OVERLOADED
    assert len(claude.requests) == 2
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["stream"]) == (200, True)
    assert orjson.loads(record["error"]) == OVERLOADED
    assert attempts(record) == [(0, 529), (0, 529)]
    # Nothing ran: billed as the 529 it stands for is, not at an estimate of the prompt.
    assert (record["tokens_in"], record["tokens_out"], record["cost_usd"]) == (None, None, None)


def test_openai_s_error_event_first_is_retried_as_the_status_it_names(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    headers = behaving("fail-1-then-ok,stream-error-500", **{"cf-aig-max-attempts": "2"})
    with client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=headers
            )
        )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "echo: what is the capital of France"
    )
    record = gateway.wait_for_logs(1)[0]
    assert attempts(record) == [(0, 500), (0, 200)]


# As real servers send it: keep-alives or pings before the error, its lines in writes of their own
# (GAP apart, so they arrive apart), the connection held open after it.
GAP = "gap-50"


@pytest.mark.parametrize("before", ["comment-first", "ping-first"])
def test_an_error_after_keep_alives_or_pings_is_still_the_opening_error(
    gateway: RunningGateway,
    claude: FakeAnthropic,
    claude_sdk: Callable[[str], anthropic.Anthropic],
    before: str,
) -> None:
    headers = behaving(f"fail-2-then-ok,stream-error-529,{before},{GAP}", **{"cf-aig-max-attempts": "3"})
    client = claude_sdk(gateway.provider_url("anthropic"))
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=MESSAGES, extra_headers=headers
    ) as stream:
        text = stream.get_final_text()
    assert text == "echo: what is the capital of France"
    assert len(claude.requests) == 3
    assert attempts(gateway.wait_for_logs(1)[0]) == [(0, 529), (0, 529), (0, 200)]


def test_an_error_event_split_over_writes_is_the_status_it_names(
    gateway: RunningGateway, claude: FakeAnthropic, claude_sdk: Callable[[str], anthropic.Anthropic]
) -> None:
    headers = behaving(f"fail-1-then-ok,stream-error-529,split-lines,{GAP}", **{"cf-aig-max-attempts": "2"})
    client = claude_sdk(gateway.provider_url("anthropic"))
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=MESSAGES, extra_headers=headers
    ) as stream:
        assert stream.get_final_text() == "echo: what is the capital of France"
    assert attempts(gateway.wait_for_logs(1)[0]) == [(0, 529), (0, 200)]


def test_a_split_invalid_request_error_is_not_retried(
    gateway: RunningGateway, claude: FakeAnthropic, claude_sdk: Callable[[str], anthropic.Anthropic]
) -> None:
    headers = behaving(f"stream-error-400,split-lines,{GAP}", **{"cf-aig-max-attempts": "3"})
    stream = claude_sdk(gateway.provider_url("anthropic")).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True, extra_headers=headers
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(stream)
    assert caught.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert len(claude.requests) == 1  # a 400: no retry mends it
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], orjson.loads(record["error"])["error"]["type"]) == (
        200,
        "invalid_request_error",
    )


def test_an_error_event_held_open_after_it_is_decided_without_waiting_for_the_end(
    gateway: RunningGateway, claude: FakeAnthropic, claude_sdk: Callable[[str], anthropic.Anthropic]
) -> None:
    # The upstream keeps the connection open after the error (until the test ends): waiting for its
    # end would turn the overload into a timeout (504) of the 5 s this try may take.
    headers = behaving(
        "fail-1-then-ok,stream-error-529,hold-open",
        **{"cf-aig-max-attempts": "2", "cf-aig-request-timeout": "5000"},
    )
    client = claude_sdk(gateway.provider_url("anthropic"))
    with client.messages.stream(
        model=MODEL, max_tokens=256, messages=MESSAGES, extra_headers=headers
    ) as stream:
        assert stream.get_final_text() == "echo: what is the capital of France"
    assert attempts(gateway.wait_for_logs(1)[0]) == [(0, 529), (0, 200)]


def test_a_split_authentication_error_disables_the_stored_key(
    make_gateway: Callable[..., RunningGateway],
    claude: FakeAnthropic,
    claude_sdk: Callable[[str], anthropic.Anthropic],
) -> None:
    gateway = make_gateway(upstreams={"anthropic": claude.base_url}, secret_key="master-key-for-tests")
    keys = "/api/v1/accounts/local/gateways/default/provider-keys"
    for name, weight in (("revoked", 1_000_000), ("good", 1)):  # revoked is chosen first
        stored = gateway.http.put(
            f"{keys}/anthropic/{name}", json={"key": f"sk-ant-{name}-0123456789", "weight": weight}
        )
        assert stored.status_code == 201, stored.text
    headers = behaving(
        f"fail-1-then-ok,stream-error-401,split-lines,{GAP}",
        **{"x-api-key": anthropic.Omit(), "Authorization": anthropic.Omit()},
    )
    client = claude_sdk(gateway.provider_url("anthropic"))
    with client.messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=MESSAGES,
        extra_headers=headers,  # type: ignore[arg-type]
    ) as stream:
        assert stream.get_final_text() == "echo: what is the capital of France"
    assert [r.header("x-api-key") for r in claude.requests] == [
        "sk-ant-revoked-0123456789",
        "sk-ant-good-0123456789",
    ]
    revoked = next(key for key in gateway.http.get(keys).json()["result"] if key["name"] == "revoked")
    assert (revoked["status"], revoked["reason"]) == ("disabled", "upstream answered 401")


# OpenRouter keeps a queued request's connection alive with `: OPENROUTER PROCESSING` comments
# (https://openrouter.ai/docs/api/reference/streaming), for as long as it is queued: the read-ahead
# holds them back a second at most, then relays the stream as it is, so the client, and any proxy
# or load balancer on the way, gets bytes.
QUEUED = "queued-3000"  # comments every 200 ms for 3 s, then the answer


def openai_client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)


def streamed_text(events: bytes) -> str:
    lines = (line for line in events.split(b"\n") if line.startswith(b"data: {"))
    chunks = [orjson.loads(line.removeprefix(b"data: ")) for line in lines]
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def test_keep_alives_reach_the_client_after_a_second_at_most(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    started = time.monotonic()
    with (
        openai_client(gateway) as client,
        client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=behaving(QUEUED)
        ) as response,
    ):
        pieces = response.iter_bytes()
        first = next(pieces)
        first_after = time.monotonic() - started
        rest = b"".join(pieces)
    assert first.startswith(b": OPENROUTER PROCESSING\n\n")
    assert first_after < 1.5, first_after  # 3 s on the old code
    assert streamed_text(first + rest) == "echo: what is the capital of France"
    assert rest.endswith(b"data: [DONE]\n\n")
    assert len(fake.requests) == 1
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["error"], record["attempts"]) == (200, None, [])  # one try


def test_a_request_timeout_shorter_than_the_keep_alives_does_not_cut_a_live_stream(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    # 2 s for the answer to start: longer than the read-ahead's second, shorter than the 3 s queued.
    headers = behaving(QUEUED, **{"cf-aig-request-timeout": "2000", "cf-aig-max-attempts": "2"})
    with openai_client(gateway) as client:
        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_headers=headers
            )
        )
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == "echo: what is the capital of France"
    )
    assert len(fake.requests) == 1  # the old code timed out at 2 s and sent it again
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["error"], record["attempts"]) == (200, None, [])


def test_an_error_after_a_second_of_keep_alives_is_relayed_as_sent(
    gateway: RunningGateway, claude: FakeAnthropic, claude_sdk: Callable[[str], anthropic.Anthropic]
) -> None:
    # The keep-alives went to the client after a second: the error that follows them is its answer.
    headers = behaving("stream-error-529,queued-1600", **{"cf-aig-max-attempts": "2"})
    stream = claude_sdk(gateway.provider_url("anthropic")).messages.create(
        model=MODEL, max_tokens=256, messages=MESSAGES, stream=True, extra_headers=headers
    )
    with pytest.raises(anthropic.APIStatusError) as caught:
        list(stream)
    assert caught.value.body == OVERLOADED
    assert len(claude.requests) == 1
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["attempts"]) == (200, [])  # one try, not counted a 529
    assert orjson.loads(record["error"]) == OVERLOADED
