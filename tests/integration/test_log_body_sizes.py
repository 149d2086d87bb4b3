"""A log body cut at `logs.body_limit` says so: the native record (`…/logs/{id}`) tells whether
each body is whole and its whole size, the Cloudflare API's `…_size` is that size and its head is
not complete, and the export carries the sizes. Both backends; the OpenAI SDK and raw HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.conftest import RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI

backend = both_backends
API = "/api/v1/accounts/local/gateways/default"
CF = "/client/v4/accounts/local/ai-gateway/gateways/default"
LIMIT = 4096
CHAT = "/v1/local/default/openai/chat/completions"


@pytest.fixture
def fake() -> FakeOpenAI:
    with FakeOpenAI().serve() as running:
        yield running  # type: ignore[misc]


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url}, log_body_limit=LIMIT)


def chat(gw: RunningGateway, text: str) -> tuple[str, bytes]:
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}).encode()
    answer = gw.http.post(CHAT, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.headers["cf-aig-log-id"], body


def test_a_body_cut_at_the_limit_says_so_with_its_whole_size(gw: RunningGateway) -> None:
    log_id, sent = chat(gw, "long " * 5000)
    assert len(sent) > LIMIT
    gw.wait_for_logs(1)

    record = gw.http.get(f"{API}/logs/{log_id}").json()

    assert len(record["request_body"]) == LIMIT
    assert (record["request_body_complete"], record["request_body_size"]) == (False, len(sent))
    answer = record["response_body"].encode()
    assert (record["response_body_complete"], record["response_body_size"]) == (True, len(answer))
    listed = gw.http.get(f"{API}/logs").json()["result"][0]
    assert (listed["request_body_complete"], listed["request_body_size"]) == (None, None)  # detail only
    cloudflare = gw.http.get(f"{CF}/logs/{log_id}").json()["result"]
    assert (cloudflare["request_size"], cloudflare["request_head_complete"]) == (len(sent), False)
    assert cloudflare["response_size"] == len(answer)
    [line] = [json.loads(text) for text in gw.http.get(f"{API}/logs/export").text.splitlines()]
    assert (line["request_size"], line["response_size"]) == (len(sent), len(answer))


def test_a_whole_body_is_complete_also_when_redaction_changed_its_length(gw: RunningGateway) -> None:
    redact = {"settings": {"redact_patterns": [r"secret-\w+"]}}
    assert gw.http.patch(API, json=redact).status_code == 200
    log_id, sent = chat(gw, "a secret-abcdefghijklmnop and a short prompt")
    gw.wait_for_logs(1)

    record = gw.http.get(f"{API}/logs/{log_id}").json()

    assert "secret-abcdefghijklmnop" not in record["request_body"]
    stored = record["request_body"].encode()
    assert len(stored) != len(sent)
    assert (record["request_body_complete"], record["request_body_size"]) == (True, len(stored))


def test_a_record_without_bodies_has_no_sizes(gw: RunningGateway) -> None:
    assert gw.http.patch(API, json={"settings": {"collect_payloads": False}}).status_code == 200
    log_id, _ = chat(gw, "not kept")
    gw.wait_for_logs(1)

    record = gw.http.get(f"{API}/logs/{log_id}").json()

    assert record["request_body"] is None
    assert (record["request_body_complete"], record["request_body_size"]) == (None, None)
    assert (record["response_body_complete"], record["response_body_size"]) == (None, None)


@pytest.mark.parametrize("redacted", [False, True], ids=["plain", "redacted"])
def test_a_body_cut_at_the_limit_keeps_whole_characters(gw: RunningGateway, redacted: bool) -> None:
    """The cut never splits a UTF-8 character: the stored body and the Cloudflare API's head end
    on a whole one (they ended in U+FFFD, the replacement character, a multi-byte text's half)."""
    if redacted:
        assert gw.http.patch(API, json={"settings": {"redact_patterns": [r"secret-\w+"]}}).status_code == 200
    text = "é😀" * 3000
    body = json.dumps(
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False
    )
    answer = gw.http.post(CHAT, content=body.encode(), headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    log_id = answer.headers["cf-aig-log-id"]
    gw.wait_for_logs(1)

    stored = gw.http.get(f"{API}/logs/{log_id}").json()["request_body"]
    head = gw.http.get(f"{CF}/logs/{log_id}").json()["result"]["request_head"]
    for shown in (stored, head):
        assert "\ufffd" not in shown
        assert shown.startswith(body[:100])
        assert body.startswith(shown)
        assert len(shown.encode()) > LIMIT - 4
