"""No cache entry crosses upstream servers: two servers behind one provider name (two allowed hosts
in host-in-path form, an account's custom provider moved to another base URL, a provider's
configured upstream or Workers AI account changed) never share an exact, named or semantic entry,
while the same server keeps hitting. Two fake OpenAI-compatible servers on loopback, each answering
in its own words, reached with the openai SDK."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.workers_ai_server import FakeWorkersAI
from tests.integration.test_semantic import stored

HOST_A, HOST_B = "llm-a.internal", "llm-b.internal"
# Fastly's two host-in-path forms: an OpenAI-compatible server, and any allowed host.
FORMS = {"compat": "/compat/openai/{host}/v1", "host": "/{host}/v1"}
QUESTION, REWORDED = "How do I reset my password?", "How can I reset my password?"
CUSTOM_PROVIDERS = "/api/v1/accounts/local/custom-providers"


@pytest.fixture
def servers() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAI().serve() as a, FakeOpenAI().serve() as b:
        a.answer = lambda text: f"llm-a says: {text}"
        b.answer = lambda text: f"llm-b says: {text}"
        yield a, b


@pytest.fixture
def hosts(
    make_gateway: Callable[..., RunningGateway], servers: tuple[FakeOpenAI, FakeOpenAI]
) -> RunningGateway:
    a, b = servers
    return make_gateway(allowed_hosts=[HOST_A, HOST_B], host_overrides={HOST_A: a.url, HOST_B: b.url})


def ask(base_url: str, question: str, **headers: str) -> tuple[str, str, str]:
    """`question` through the openai SDK, the same key every time: the answer's text and its
    `cf-aig-cache-status` and `x-semantic-cache` ("" when absent)."""
    with openai.OpenAI(base_url=base_url, api_key="sk-the-same-key", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": question}], extra_headers=headers
        )
    text = raw.parse().choices[0].message.content or ""
    return text, raw.headers.get("cf-aig-cache-status", ""), raw.headers.get("x-semantic-cache", "")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("named", [False, True], ids=["exact", "cf-aig-cache-key"])
def test_two_allowed_hosts_never_share_an_exact_or_named_entry(
    hosts: RunningGateway, servers: tuple[FakeOpenAI, FakeOpenAI], form: str, named: bool
) -> None:
    hosts.configure(cache_enabled=True)
    headers = {"cf-aig-cache-key": "faq"} if named else {}
    url_a, url_b = (hosts.url + FORMS[form].format(host=host) for host in (HOST_A, HOST_B))
    # Fastly's form: the exact cache answers in Fastly's header too (`cache_labels.py`).
    assert ask(url_a, QUESTION, **headers) == (f"llm-a says: {QUESTION}", "MISS", "MISS")
    assert ask(url_b, QUESTION, **headers) == (f"llm-b says: {QUESTION}", "MISS", "MISS")
    # Each host's own entry is still there for it.
    assert ask(url_a, QUESTION, **headers) == (f"llm-a says: {QUESTION}", "HIT", "HIT")
    assert ask(url_b, QUESTION, **headers) == (f"llm-b says: {QUESTION}", "HIT", "HIT")
    assert [len(server.requests) for server in servers] == [1, 1]


@pytest.mark.parametrize("form", FORMS)
def test_two_allowed_hosts_never_share_a_semantic_entry(
    hosts: RunningGateway, servers: tuple[FakeOpenAI, FakeOpenAI], form: str
) -> None:
    hosts.configure(semantic_cache_enabled=True)  # the exact cache off: every hit is by meaning
    url_a, url_b = (hosts.url + FORMS[form].format(host=host) for host in (HOST_A, HOST_B))
    assert ask(url_a, QUESTION) == (f"llm-a says: {QUESTION}", "MISS", "MISS")
    stored(hosts, 1)
    assert ask(url_b, REWORDED) == (f"llm-b says: {REWORDED}", "MISS", "MISS")
    stored(hosts, 2)
    assert ask(url_a, REWORDED) == (f"llm-a says: {QUESTION}", "HIT", "HIT")
    assert ask(url_b, QUESTION) == (f"llm-b says: {REWORDED}", "HIT", "HIT")
    assert [len(server.requests) for server in servers] == [1, 1]


def test_a_custom_provider_moved_to_another_server_never_serves_the_first_servers_answers(
    make_gateway: Callable[..., RunningGateway], servers: tuple[FakeOpenAI, FakeOpenAI]
) -> None:
    """The same `custom-{slug}` before and after its base_url changes, on the provider endpoint and
    in a universal endpoint's step (its own key per step)."""
    a, b = servers
    gateway = make_gateway(allowed_hosts=[server.url.removeprefix("http://") for server in servers])
    gateway.configure(cache_enabled=True)
    body = {"name": "vLLM", "slug": "vllm", "base_url": a.base_url}
    assert gateway.http.post(CUSTOM_PROVIDERS, json=body).status_code == 201
    endpoint = gateway.provider_url("custom-vllm")
    step = {"provider": "custom-vllm", "endpoint": "chat/completions", "headers": {}}
    chat = {"model": "m", "messages": [{"role": "user", "content": QUESTION}]}

    def universal() -> tuple[str, str]:
        answer = httpx.post(gateway.url + "/v1/local/default", json=[step | {"query": chat}], timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()["choices"][0]["message"]["content"], answer.headers["cf-aig-cache-status"]

    assert ask(endpoint, QUESTION) == (f"llm-a says: {QUESTION}", "MISS", "")
    assert universal() == (f"llm-a says: {QUESTION}", "MISS")
    assert ask(endpoint, QUESTION) == (f"llm-a says: {QUESTION}", "HIT", "")
    assert universal() == (f"llm-a says: {QUESTION}", "HIT")
    moved = gateway.http.patch(f"{CUSTOM_PROVIDERS}/vllm", json={"base_url": b.base_url})
    assert moved.status_code == 200, moved.text
    assert ask(endpoint, QUESTION) == (f"llm-b says: {QUESTION}", "MISS", "")
    assert universal() == (f"llm-b says: {QUESTION}", "MISS")
    assert ask(endpoint, QUESTION) == (f"llm-b says: {QUESTION}", "HIT", "")
    assert universal() == (f"llm-b says: {QUESTION}", "HIT")
    assert [len(server.requests) for server in servers] == [2, 2]


def test_a_providers_upstream_changed_across_a_restart_misses(
    make_gateway: Callable[..., RunningGateway], servers: tuple[FakeOpenAI, FakeOpenAI], tmp_path: Path
) -> None:
    """The exact cache outlives a restart (SQLite): entries the old upstream answered are not
    served once `upstreams` points the provider at another server; the semantic cache's neither."""
    a, b = servers
    first = make_gateway(upstreams={"openai": a.base_url}, data_dir=tmp_path)
    first.configure(cache_enabled=True, semantic_cache_enabled=True)
    assert ask(first.provider_url("openai"), QUESTION) == (f"llm-a says: {QUESTION}", "MISS", "MISS")
    stored(first, 1)
    assert ask(first.provider_url("openai"), QUESTION)[1] == "HIT"  # kept, and hits while it is there
    first.server.stop()
    again = make_gateway(upstreams={"openai": b.base_url}, data_dir=tmp_path)
    assert ask(again.provider_url("openai"), QUESTION) == (f"llm-b says: {QUESTION}", "MISS", "MISS")
    stored(again, 2)  # the first server's entry, journaled, and this one
    assert ask(again.provider_url("openai"), REWORDED) == (f"llm-b says: {QUESTION}", "HIT", "HIT")
    assert [len(server.requests) for server in servers] == [1, 1]


def test_a_workers_ai_account_changed_across_a_restart_misses(
    make_gateway: Callable[..., RunningGateway], tmp_path: Path
) -> None:
    """Workers AI runs a model in a Cloudflare account named in the URL: another account (the
    `workers_ai_account_id` setting changed) is another upstream."""
    model = "@cf/meta/llama-3.1-8b-instruct"
    body = {"messages": [{"role": "user", "content": QUESTION}]}
    auth = {"Authorization": "Bearer cf-api-token-0123456789abcdef"}
    with FakeWorkersAI().serve() as fake:
        statuses = []
        for account in ("a" * 32, "a" * 32, "b" * 32):
            gateway = make_gateway(
                upstreams={"workers-ai": fake.base_url}, workers_ai_account_id=account, data_dir=tmp_path
            )
            gateway.configure(cache_enabled=True)
            answer = httpx.post(f"{gateway.provider_url('workers-ai')}/{model}", json=body, headers=auth)
            assert answer.status_code == 200, answer.text
            statuses.append(answer.headers["cf-aig-cache-status"])
            gateway.server.stop()
        assert statuses == ["MISS", "HIT", "MISS"]
        assert [r.path.split("/")[4] for r in fake.requests] == ["a" * 32, "b" * 32]
