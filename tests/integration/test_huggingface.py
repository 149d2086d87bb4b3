"""Hugging Face through the gateway with `huggingface_hub.InferenceClient`, against the fake upstream.

The client reaches a model as Cloudflare documents it, `InferenceClient(model=.../huggingface/{model})`
(text generation posts to that URL; chat completion appends `/v1/chat/completions`), and the router's
OpenAI-compatible API as `InferenceClient(base_url=.../huggingface)` (`.../huggingface/v1/chat/completions`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError, OverloadedError, ValidationError

from tests.conftest import RunningGateway
from tests.fakes.huggingface_server import FakeHuggingFace
from tests.image_files import photo_png

MODEL = "bigcode/starcoder"
CHAT_MODEL = "meta-llama/Llama-3.1-8B-Instruct"
PROMPT = "what is the capital of France"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]
TOKEN = "hf_secret0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeHuggingFace) -> RunningGateway:
    return make_gateway(upstreams={"huggingface": fake.base_url})


def model_client(gateway: RunningGateway, model: str = MODEL) -> InferenceClient:
    return InferenceClient(model=f"{gateway.provider_url('huggingface')}/{model}", token=TOKEN)


def raw(url: str, body: dict[str, Any]) -> tuple[int, bytes]:
    with httpx.stream("POST", url, json=body, headers=AUTH, timeout=10) as response:
        return response.status_code, b"".join(response.iter_bytes())


def test_generation_is_byte_identical_and_prefill_gives_exact_usage(
    gateway: RunningGateway, fake: FakeHuggingFace
) -> None:
    body = {"inputs": PROMPT, "parameters": {"details": True, "decoder_input_details": True}}
    direct = raw(fake.model_url(MODEL), body)
    fake.clear()
    assert raw(f"{gateway.provider_url('huggingface')}/{MODEL}", body) == direct
    forwarded = fake.requests[-1]
    assert forwarded.path == f"/hf-inference/models/{MODEL}"
    assert forwarded.header("authorization") == f"Bearer {TOKEN}"

    output = model_client(gateway).text_generation(PROMPT, details=True, decoder_input_details=True)
    assert output.generated_text == "echo: what is the capital of France"
    assert output.details is not None
    record = gateway.wait_for_logs(2)[0]
    assert (record["model"], record["stream"]) == (MODEL, False)
    assert (record["tokens_in"], record["tokens_out"]) == (
        len(output.details.prefill),
        output.details.generated_tokens,
    )
    assert record["usage_estimated"] is False


def test_generation_without_prefill_is_counted_with_the_tokenizer(gateway: RunningGateway) -> None:
    assert model_client(gateway).text_generation(PROMPT) == "echo: what is the capital of France"
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    assert record["tokens_out"] == 8  # "echo: what is the capital of France" in o200k_base


def test_stream_with_details_is_byte_identical_and_its_usage_is_logged(
    gateway: RunningGateway, fake: FakeHuggingFace
) -> None:
    body = {"inputs": PROMPT, "parameters": {"details": True}, "stream": True}
    direct = raw(fake.model_url(MODEL), body)
    fake.clear()
    assert raw(f"{gateway.provider_url('huggingface')}/{MODEL}", body) == direct

    with model_client(gateway) as client:  # the client owns the streamed response
        events = list(client.text_generation(PROMPT, stream=True, details=True))
    details = events[-1].details
    assert details is not None
    record = gateway.wait_for_logs(2)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (details.input_length, details.generated_tokens)
    assert record["usage_estimated"] is False


def test_stream_without_details_is_counted_with_the_tokenizer(gateway: RunningGateway) -> None:
    with model_client(gateway) as client:
        tokens = list(client.text_generation(PROMPT, stream=True))
    assert "".join(tokens) == "echo: what is the capital of France</s>"
    record = gateway.wait_for_logs(1)[0]
    assert (record["stream"], record["usage_estimated"]) == (True, True)
    assert record["tokens_out"] == 8  # the special `</s>` is not text


def test_router_chat_completion(gateway: RunningGateway, fake: FakeHuggingFace) -> None:
    client = InferenceClient(base_url=gateway.provider_url("huggingface"), token=TOKEN)
    answer = client.chat_completion(MESSAGES, model=CHAT_MODEL)
    assert answer.choices[0].message.content == "echo: what is the capital of France"
    assert (fake.requests[-1].path, fake.requests[-1].json["model"]) == ("/v1/chat/completions", CHAT_MODEL)
    chunks = list(
        client.chat_completion(
            MESSAGES, model=CHAT_MODEL, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None
    records = {r["stream"]: r for r in gateway.wait_for_logs(2)}
    assert (records[False]["model"], records[False]["endpoint"]) == (CHAT_MODEL, "v1/chat/completions")
    assert records[False]["tokens_out"] == answer.usage.completion_tokens
    assert records[True]["tokens_in"] == chunks[-1].usage.prompt_tokens
    assert records[True]["usage_estimated"] is False


def test_a_router_chat_stream_is_asked_for_its_usage(gateway: RunningGateway, fake: FakeHuggingFace) -> None:
    """huggingface_hub asks for no usage; the router takes `stream_options.include_usage`
    (https://huggingface.co/docs/inference-providers/tasks/chat-completion), so the gateway asks
    for it and the client gets the stream less that chunk. The old code logged an estimate."""
    with InferenceClient(base_url=gateway.provider_url("huggingface"), token=TOKEN) as client:
        chunks = list(client.chat_completion(MESSAGES, model=CHAT_MODEL, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: what is the capital of France"
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)  # no chunk it did not ask for
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}
    record = gateway.wait_for_logs(1)[0]
    assert (record["usage_estimated"], record["tokens_out"]) == (False, 7)  # the fake's words
    # An inference provider's own route goes as sent: not every provider is documented to take it.
    status, _ = raw(
        f"{gateway.provider_url('huggingface')}/together/v1/chat/completions",
        {"model": CHAT_MODEL, "messages": MESSAGES, "stream": True},
    )
    assert status == 200
    assert "stream_options" not in fake.requests[-1].json


def test_chat_completion_on_a_model_url(gateway: RunningGateway, fake: FakeHuggingFace) -> None:
    answer = model_client(gateway, CHAT_MODEL).chat_completion(MESSAGES)
    assert answer.choices[0].message.content == "echo: what is the capital of France"
    assert fake.requests[-1].path == f"/hf-inference/models/{CHAT_MODEL}/v1/chat/completions"
    record = gateway.wait_for_logs(1)[0]
    assert record["model"] == CHAT_MODEL  # the path names it; the client's body says "dummy"
    assert record["tokens_in"] == answer.usage.prompt_tokens


@pytest.mark.parametrize(
    ("model", "status", "error"),
    [
        ("fake/error-422", 422, ValidationError),
        ("fake/rate-limited", 429, OverloadedError),
        ("fake/error-503", 503, HfHubHTTPError),
    ],
)
def test_upstream_errors_pass_through(
    gateway: RunningGateway, fake: FakeHuggingFace, model: str, status: int, error: type[Exception]
) -> None:
    direct = raw(fake.model_url(model), {"inputs": PROMPT})
    fake.clear()
    assert raw(f"{gateway.provider_url('huggingface')}/{model}", {"inputs": PROMPT}) == direct
    assert direct[0] == status
    with pytest.raises(error):
        model_client(gateway, model).text_generation(PROMPT)
    record = gateway.wait_for_logs(2)[0]
    assert record["status"] == status
    assert record["error"] == direct[1].decode()


def test_generation_details_without_prefill_log_the_output_they_report(gateway: RunningGateway) -> None:
    # `details=True` alone: TGI counts the generated tokens, and lists the prompt's only with
    # `decoder_input_details` (an empty `prefill` here). The output is the answer's count, not the
    # tokenizer's ("echo: def f(x):" is 6 in o200k_base); the input, unreported, is counted.
    with model_client(gateway) as client:
        output = client.text_generation("def f(x):", max_new_tokens=5, details=True)
    assert output.details is not None
    assert (output.details.generated_tokens, output.details.prefill) == (4, [])
    record = gateway.wait_for_logs(1)[0]
    assert (record["tokens_in"], record["tokens_out"]) == (4, 4)  # "def f(x):" in o200k_base; the answer's
    assert record["usage_estimated"] is True


def test_generation_without_details_counts_its_inputs(gateway: RunningGateway) -> None:
    status, _ = raw(f"{gateway.provider_url('huggingface')}/gpt2", {"inputs": "one two three four five six"})
    assert status == 200
    record = gateway.wait_for_logs(1)[0]
    assert (record["model"], record["usage_estimated"]) == ("gpt2", True)
    # "one two three four five six" and "echo: one two three four five six" in o200k_base
    assert (record["tokens_in"], record["tokens_out"]) == (6, 8)


def test_stream_dropped_mid_way_counts_its_inputs(gateway: RunningGateway) -> None:
    # The upstream aborts its connection after two tokens; the gateway breaks off the client's.
    with model_client(gateway, "fake/drop-mid-stream") as client, pytest.raises(httpx.RemoteProtocolError):
        list(client.text_generation(PROMPT, stream=True))
    record = gateway.wait_for_logs(1)[0]
    assert (record["stream"], record["usage_estimated"]) == (True, True)
    assert record["tokens_in"] == 6  # "what is the capital of France" in o200k_base
    assert record["tokens_out"] == 3  # the two tokens that came: "echo: what"


def test_an_image_to_classify_counts_no_prompt_tokens(gateway: RunningGateway, fake: FakeHuggingFace) -> None:
    # With parameters, huggingface_hub sends the image as base64 in `inputs` (raw bytes without);
    # HF Inference answers labels and no usage, so the gateway estimates: the image's base64 is no
    # prompt (9,400 characters here, some 6,000 tokens were it read as text). A text generation
    # still counts its prompt.
    image = photo_png(48, 48)
    with model_client(gateway, "google/vit-base-patch16-224") as client:
        labels = client.image_classification(image, top_k=2)
    assert [label.label for label in labels] == ["Egyptian cat", "tabby, tabby cat"]
    assert fake.requests[-1].json["inputs"] == base64.b64encode(image).decode()
    with model_client(gateway) as client:
        assert client.text_generation(PROMPT) == "echo: what is the capital of France"
    generation, classification = gateway.wait_for_logs(2)
    assert (classification["model"], classification["usage_estimated"]) == (
        "google/vit-base-patch16-224",
        True,
    )
    assert (classification["tokens_in"], classification["tokens_out"]) == (0, 0)
    assert (generation["tokens_in"], generation["tokens_out"]) == (6, 8)  # in o200k_base
