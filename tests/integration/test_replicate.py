"""Replicate through the gateway with the official `replicate` client, against the fake upstream.

`replicate.Client(base_url=...)` takes the API's host and adds `/v1` to every path, so pointed at
`.../replicate` it sends `.../replicate/v1/predictions`; the gateway accepts that beside
Cloudflare's documented `.../replicate/predictions` (driven over raw HTTP here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
import replicate
from httpx import HTTPTransport  # the replicate client's HTTP library (not the project's httpx2)
from replicate.exceptions import ReplicateError

from tests.conftest import RunningGateway
from tests.fakes.replicate_server import FakeReplicate

MODEL = "meta/meta-llama-3-8b-instruct"
PROMPT = "what is the capital of France"
ANSWER = "echo: what is the capital of France"
KEY = "r8_secret0123456789abcdef"


@pytest.fixture
def fake() -> Iterator[FakeReplicate]:
    with FakeReplicate(api_key=KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeReplicate) -> RunningGateway:
    return make_gateway(upstreams={"replicate": fake.base_url})


@pytest.fixture
def sdk(gateway: RunningGateway) -> Iterator[Callable[..., replicate.Client]]:
    """Clients pointed at the gateway; the SDK has no close(), so their transports are closed here."""
    transports: list[HTTPTransport] = []

    def make(**kwargs: Any) -> replicate.Client:
        transports.append(HTTPTransport())
        client = replicate.Client(
            api_token=KEY, base_url=gateway.provider_url("replicate"), transport=transports[-1], **kwargs
        )
        client.poll_interval = 0.01  # the SDK polls unfinished predictions every 0.5 s by default
        return client

    yield make
    for transport in transports:
        transport.close()


def post(url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {KEY}", **headers}, timeout=10)


def test_run_waits_and_logs_the_predictions_token_counts(
    gateway: RunningGateway, fake: FakeReplicate, sdk: Callable[..., replicate.Client]
) -> None:
    output = sdk().run(MODEL, input={"prompt": PROMPT})
    assert "".join(output) == ANSWER
    forwarded = fake.requests[-1]
    assert forwarded.path == f"/v1/models/{MODEL}/predictions"
    assert (forwarded.header("prefer"), forwarded.header("authorization")) == ("wait", f"Bearer {KEY}")
    record = gateway.wait_for_logs(1)[0]
    assert (record["model"], record["endpoint"], record["status"]) == (
        MODEL,
        f"v1/models/{MODEL}/predictions",
        201,
    )
    assert (record["tokens_in"], record["tokens_out"]) == (6, 7)  # the prediction's metrics
    assert record["usage_estimated"] is False
    assert record["cost_usd"] > 0


def test_prediction_is_byte_identical_on_cloudflares_path_and_the_sdks(
    gateway: RunningGateway, fake: FakeReplicate
) -> None:
    body = {"input": {"prompt": PROMPT, "max_tokens": 4}}
    direct = post(f"{fake.base_url}/models/{MODEL}/predictions", body, Prefer="wait")
    assert direct.status_code == 201
    for path in (f"models/{MODEL}/predictions", f"v1/models/{MODEL}/predictions"):
        fake.clear()
        proxied = post(f"{gateway.provider_url('replicate')}/{path}", body, Prefer="wait")
        assert proxied.status_code == 201
        assert proxied.content == direct.content
        assert fake.requests[-1].path == f"/v1/models/{MODEL}/predictions"
    assert proxied.json()["output"] == ["echo:", " what", " is", " the"]


def test_create_get_and_cancel(
    gateway: RunningGateway, fake: FakeReplicate, sdk: Callable[..., replicate.Client]
) -> None:
    # Replicate also takes `Token <key>`; the gateway forwards whatever the client sends.
    client = sdk(headers={"Authorization": f"Token {KEY}"})
    created = client.predictions.create(version=f"{MODEL}:5c7d5dc6", input={"prompt": PROMPT})
    assert created.status == "starting"
    assert fake.requests[-1].header("authorization") == f"Token {KEY}"
    finished = client.predictions.get(created.id)
    assert (finished.status, "".join(finished.output)) == ("succeeded", ANSWER)
    canceled = client.predictions.cancel(
        client.predictions.create(version=f"{MODEL}:5c7d5dc6", input={"prompt": "x"}).id
    )
    assert canceled.status == "canceled"
    assert fake.requests[-1].path == f"/v1/predictions/{canceled.id}/cancel"
    records = gateway.wait_for_logs(4)
    creates = [r for r in records if (r["method"], r["endpoint"]) == ("POST", "v1/predictions")]
    # Nothing has run when a prediction is created: zero tokens, not an estimate of the prompt.
    assert [
        (r["status"], r["model"], r["tokens_in"], r["tokens_out"], r["usage_estimated"]) for r in creates
    ] == [(201, MODEL, 0, 0, False)] * 2
    # The finished prediction, read back, reports the tokens; its model is the answer's (none in the path).
    get = next(r for r in records if r["endpoint"] == f"v1/predictions/{created.id}")
    assert finished.metrics is not None
    assert (get["method"], get["model"], get["tokens_in"], get["tokens_out"]) == (
        "GET",
        MODEL,
        finished.metrics["input_token_count"],
        finished.metrics["output_token_count"],
    )
    cancel = next(r for r in records if r["endpoint"] == f"v1/predictions/{canceled.id}/cancel")
    assert (cancel["method"], cancel["status"], cancel["tokens_in"]) == ("POST", 200, None)


def test_output_stream_goes_to_replicate_directly(
    gateway: RunningGateway, fake: FakeReplicate, sdk: Callable[..., replicate.Client]
) -> None:
    client = sdk()
    prediction = client.models.predictions.create(model=MODEL, input={"prompt": PROMPT}, stream=True)
    stream_url = prediction.urls["stream"] if prediction.urls else ""
    # The gateway relays the body unchanged: the stream URL is Replicate's (here the fake's) own.
    assert stream_url.startswith(fake.url)
    assert not stream_url.startswith(gateway.url)
    assert "".join(str(event) for event in prediction.stream()) == ANSWER
    assert fake.requests[-1].path == f"/streams/{prediction.id}"
    client.predictions.get(prediction.id)
    records = gateway.wait_for_logs(2)
    assert sorted(r["endpoint"] for r in records) == [
        f"v1/models/{MODEL}/predictions",
        f"v1/predictions/{prediction.id}",
    ]


@pytest.mark.parametrize(
    ("model", "status"), [("fake/error-422", 422), ("fake/rate-limited", 429), ("fake/error-500", 500)]
)
def test_upstream_errors_pass_through_as_problem_details(
    gateway: RunningGateway,
    fake: FakeReplicate,
    sdk: Callable[..., replicate.Client],
    model: str,
    status: int,
) -> None:
    body = {"input": {"prompt": PROMPT}}
    direct = post(f"{fake.base_url}/models/{model}/predictions", body)
    fake.clear()
    proxied = post(f"{gateway.provider_url('replicate')}/models/{model}/predictions", body)
    assert proxied.status_code == direct.status_code == status
    assert proxied.content == direct.content
    assert proxied.headers["content-type"].startswith("application/problem+json")
    if status == 429:
        assert proxied.headers["retry-after"] == "1"
    with pytest.raises(ReplicateError) as caught:
        sdk().models.predictions.create(model=model, input={"prompt": PROMPT})
    assert (caught.value.status, caught.value.title) == (status, direct.json()["title"])
    record = gateway.wait_for_logs(2)[0]
    assert (record["status"], record["error"]) == (status, direct.text)


def test_prediction_without_token_counts_is_counted_with_the_tokenizer(
    gateway: RunningGateway, sdk: Callable[..., replicate.Client]
) -> None:
    assert "".join(sdk().run("fake/no-usage", input={"prompt": PROMPT})) == ANSWER
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    assert record["tokens_out"] == 8  # "echo: what is the capital of France" in o200k_base
    assert record["tokens_in"] > 0
