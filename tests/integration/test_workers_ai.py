"""Workers AI through the gateway, against the fake upstream on loopback.

The native endpoint is called over plain HTTP, as Cloudflare's AI Gateway docs do (curl): the
official `cloudflare` SDK adds `/accounts/{account_id}/ai/run/{model}` to its base URL, a path of
its own form (test_workers_ai_sdk_paths.py), and its `run` parses no SSE stream. The
OpenAI-compatible endpoints are driven by the `openai` SDK, as Cloudflare documents them
(`base_url=.../workers-ai/v1`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.workers_ai_server import FakeWorkersAI

MODEL = "@cf/meta/llama-3.1-8b-instruct"
MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]
TOKEN = "cf-api-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI) -> RunningGateway:
    return make_gateway(upstreams={"workers-ai": fake.base_url})


def run(url: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(url, json=body, headers=AUTH, timeout=10)


def raw_stream(url: str, body: dict[str, Any]) -> bytes:
    with httpx.stream("POST", url, json={**body, "stream": True}, headers=AUTH, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        return b"".join(response.iter_bytes())


def test_run_is_byte_identical_and_its_usage_is_logged(gateway: RunningGateway, fake: FakeWorkersAI) -> None:
    direct = run(fake.run_url(MODEL), {"messages": MESSAGES})
    fake.clear()
    proxied = run(f"{gateway.provider_url('workers-ai')}/{MODEL}", {"messages": MESSAGES})
    assert proxied.status_code == direct.status_code == 200
    assert proxied.content == direct.content
    forwarded = fake.requests[-1]
    assert forwarded.path == f"/client/v4/accounts/local/ai/run/{MODEL}"  # the gateway's account
    assert forwarded.header("authorization") == f"Bearer {TOKEN}"
    assert forwarded.json == {"messages": MESSAGES}
    usage = proxied.json()["result"]["usage"]
    record = gateway.wait_for_logs(1)[0]
    assert (record["model"], record["stream"], record["status"]) == (MODEL, False, 200)
    assert (record["tokens_in"], record["tokens_out"]) == (usage["prompt_tokens"], usage["completion_tokens"])
    assert record["usage_estimated"] is False
    assert record["cost_usd"] > 0


def test_stream_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeWorkersAI
) -> None:
    direct = raw_stream(fake.run_url(MODEL), {"messages": MESSAGES})
    fake.clear()
    proxied = raw_stream(f"{gateway.provider_url('workers-ai')}/{MODEL}", {"messages": MESSAGES})
    assert proxied == direct
    assert b'"usage":{"prompt_tokens":10,"completion_tokens":7' in proxied
    assert proxied.endswith(b"data: [DONE]\n\n")
    record = gateway.wait_for_logs(1)[0]
    assert (record["stream"], record["tokens_in"], record["tokens_out"]) == (True, 10, 7)
    assert record["usage_estimated"] is False


def test_model_percent_encoded_as_the_cloudflare_sdk_encodes_it(gateway: RunningGateway) -> None:
    encoded = MODEL.replace("/", "%2F")
    response = run(f"{gateway.provider_url('workers-ai')}/{encoded}", {"prompt": "say hi"})
    assert response.json()["result"]["response"] == "echo: say hi"
    assert gateway.wait_for_logs(1)[0]["model"] == MODEL


def test_openai_compatible_endpoints_with_the_openai_sdk(
    gateway: RunningGateway, fake: FakeWorkersAI
) -> None:
    base_url = f"{gateway.provider_url('workers-ai')}/v1"
    with openai.OpenAI(base_url=base_url, api_key=TOKEN, max_retries=0) as client:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert answer.choices[0].message.content == "echo: what is the capital of France"
        assert fake.requests[-1].path == "/client/v4/accounts/local/ai/v1/chat/completions"
        chunks = list(
            client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
            )
        )
        assert (
            "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            == answer.choices[0].message.content
        )
        embedding = client.embeddings.create(model="@cf/baai/bge-base-en-v1.5", input="one two")
        assert fake.requests[-1].path == "/client/v4/accounts/local/ai/v1/embeddings"
    records = {(r["endpoint"], r["stream"]): r for r in gateway.wait_for_logs(3)}
    assert answer.usage is not None
    assert records[("v1/chat/completions", False)]["tokens_out"] == answer.usage.completion_tokens
    assert records[("v1/chat/completions", True)]["tokens_in"] == answer.usage.prompt_tokens
    assert records[("v1/chat/completions", True)]["usage_estimated"] is False
    assert records[("v1/embeddings", False)]["tokens_in"] == embedding.usage.prompt_tokens
    assert records[("v1/embeddings", False)]["model"] == "@cf/baai/bge-base-en-v1.5"


@pytest.mark.parametrize(
    ("model", "status"),
    [("@cf/fake/error-400", 400), ("@cf/fake/rate-limited", 429), ("@cf/fake/error-500", 500)],
)
def test_upstream_errors_pass_through_in_cloudflares_envelope(
    gateway: RunningGateway, fake: FakeWorkersAI, model: str, status: int
) -> None:
    direct = run(fake.run_url(model), {"messages": MESSAGES})
    fake.clear()
    proxied = run(f"{gateway.provider_url('workers-ai')}/{model}", {"messages": MESSAGES})
    assert proxied.status_code == direct.status_code == status
    assert proxied.content == direct.content
    assert proxied.json()["success"] is False
    assert isinstance(proxied.json()["errors"][0]["code"], int)
    record = gateway.wait_for_logs(1)[0]
    assert record["status"] == status
    assert record["error"] == direct.text
    assert record["tokens_in"] is None


def test_stream_without_usage_is_counted_with_the_tokenizer(gateway: RunningGateway) -> None:
    body = raw_stream(f"{gateway.provider_url('workers-ai')}/@cf/fake/no-usage", {"messages": MESSAGES})
    assert b'"usage"' not in body
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    # "echo: what is the capital of France" is 8 tokens in o200k_base; the prompt a few more.
    assert record["tokens_out"] == 8
    assert record["tokens_in"] > 7


def test_upstream_dropping_mid_stream_breaks_the_client_stream(gateway: RunningGateway) -> None:
    with pytest.raises(httpx.HTTPError):
        raw_stream(f"{gateway.provider_url('workers-ai')}/@cf/fake/drop-mid-stream", {"messages": MESSAGES})
    record = gateway.wait_for_logs(1)[0]
    assert "broke off" in record["error"]


CLOUDFLARE_ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"  # the form of Cloudflare's account ids


def universal_step(model: str) -> list[dict[str, Any]]:
    """A Workers AI step of the universal endpoint, as Cloudflare's docs write one."""
    return [
        {
            "provider": "workers-ai",
            "endpoint": model,
            "headers": {"Authorization": f"Bearer {TOKEN}"},
            "query": {"messages": MESSAGES},
        }
    ]


def test_the_workers_ai_account_id_setting_is_the_account_of_every_path(
    make_gateway: Callable[..., RunningGateway], fake: FakeWorkersAI
) -> None:
    """On a fresh install the URL's account is `local`; the setting names the Cloudflare account,
    on the provider endpoint (native and OpenAI-compatible), the universal and the compat one."""
    gateway = make_gateway(upstreams={"workers-ai": fake.base_url}, workers_ai_account_id=CLOUDFLARE_ACCOUNT)
    prefix = f"/client/v4/accounts/{CLOUDFLARE_ACCOUNT}/ai"
    assert run(f"{gateway.provider_url('workers-ai')}/{MODEL}", {"messages": MESSAGES}).status_code == 200
    assert fake.requests[-1].path == f"{prefix}/run/{MODEL}"
    with openai.OpenAI(
        base_url=f"{gateway.provider_url('workers-ai')}/v1", api_key=TOKEN, max_retries=0
    ) as client:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert fake.requests[-1].path == f"{prefix}/v1/chat/completions"
    universal = httpx.post(f"{gateway.url}/v1/local/default", json=universal_step(MODEL), timeout=10)
    assert (universal.status_code, universal.headers["cf-aig-step"]) == (200, "0")
    assert fake.requests[-1].path == f"{prefix}/run/{MODEL}"
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key=TOKEN, max_retries=0) as client:
        answer = client.chat.completions.create(model=f"workers-ai/{MODEL}", messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: what is the capital of France"
    assert fake.requests[-1].path == f"{prefix}/run/{MODEL}"


def test_without_it_a_request_for_cloudflare_under_account_local_is_a_400_saying_what_to_set(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    """Workers AI's upstream is api.cloudflare.com, which refuses the account `local`: the gateway
    answers before sending anything, naming the setting (the old code sent the request)."""
    gateway = make_gateway(connect_timeout=2.0)
    native = run(f"{gateway.provider_url('workers-ai')}/{MODEL}", {"messages": MESSAGES})
    universal = httpx.post(f"{gateway.url}/v1/local/default", json=universal_step(MODEL), timeout=10)
    client = openai.OpenAI(base_url=gateway.provider_url("compat"), api_key=TOKEN, max_retries=0)
    with client, pytest.raises(openai.BadRequestError) as compat:
        client.chat.completions.create(model=f"workers-ai/{MODEL}", messages=MESSAGES)
    errors = [native.json()["error"], universal.json()["error"], compat.value.response.json()["error"]]
    assert [native.status_code, universal.status_code] == [400, 400]
    for error in errors:
        assert error["setting"] == "workers_ai_account_id"
        assert "'local' of this URL is not a Cloudflare account id" in error["message"]
        assert "Set SLUICEGATE_WORKERS_AI_ACCOUNT_ID" in error["message"]
        assert "https://api.cloudflare.com/client/v4/accounts/local/ai/" in error["message"]
    assert errors[1]["message"].startswith("step 0: ")
    assert errors[1]["step"] == 0
    records = gateway.wait_for_logs(3)
    assert {(r["provider"], r["status"]) for r in records} == {("workers-ai", 400)}
    assert all(r["attempts"] in (None, []) for r in records)  # nothing was sent upstream
