"""Hugging Face router paths that already name their route go upstream as they are.

HF documents `router.huggingface.co/hf-inference/models/{model}[/pipeline/{task}]` and, per inference
provider, `router.huggingface.co/{provider}/{its own path}` (https://huggingface.co/docs/inference-providers/).
A client whose base URL ends in the gateway's `.../huggingface` writes those paths after it; they
must reach the router unchanged, logged under the model they name. Cloudflare's form,
`.../huggingface/{org}/{model}`, keeps going to `hf-inference/models/{org}/{model}`, also for an org
that shares a provider's name (`openai/gpt-oss-120b`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI

from tests.conftest import RunningGateway
from tests.fakes.huggingface_server import FakeHuggingFace

TOKEN = "hf_secret0123456789abcdef"
PROMPT = "what is the capital of France"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]
TOGETHER_MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


@pytest.fixture
def fake() -> Iterator[FakeHuggingFace]:
    with FakeHuggingFace().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeHuggingFace) -> RunningGateway:
    return make_gateway(upstreams={"huggingface": fake.base_url})


def test_an_hf_inference_model_path_is_sent_as_it_is(gateway: RunningGateway, fake: FakeHuggingFace) -> None:
    url = f"{gateway.provider_url('huggingface')}/hf-inference/models/openai-community/gpt2"
    client = InferenceClient(model=url, token=TOKEN)
    output = client.text_generation(PROMPT, details=True, decoder_input_details=True)
    assert fake.requests[-1].path == "/hf-inference/models/openai-community/gpt2"
    assert output.details is not None
    record = gateway.wait_for_logs(1)[0]
    assert record["model"] == "openai-community/gpt2"
    assert (record["tokens_in"], record["tokens_out"]) == (
        len(output.details.prefill),
        output.details.generated_tokens,
    )
    assert record["usage_estimated"] is False


def test_an_hf_inference_pipeline_path_is_sent_as_it_is(
    gateway: RunningGateway, fake: FakeHuggingFace
) -> None:
    path = "hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction"
    response = httpx.post(
        f"{gateway.provider_url('huggingface')}/{path}",
        json={"inputs": PROMPT},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert fake.requests[-1].path == f"/{path}"
    assert gateway.wait_for_logs(1)[0]["model"] == "BAAI/bge-small-en-v1.5"


@pytest.mark.parametrize(
    ("base_path", "upstream"),
    [
        ("together/v1", "/together/v1/chat/completions"),
        ("novita/v3/openai", "/novita/v3/openai/chat/completions"),
    ],
)
def test_a_provider_routed_chat_is_sent_as_it_is_with_its_usage(
    gateway: RunningGateway, fake: FakeHuggingFace, base_path: str, upstream: str
) -> None:
    client = OpenAI(base_url=f"{gateway.provider_url('huggingface')}/{base_path}", api_key=TOKEN)
    answer = client.chat.completions.create(model=TOGETHER_MODEL, messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: what is the capital of France"
    assert answer.usage is not None
    assert (fake.requests[-1].path, fake.requests[-1].json["model"]) == (upstream, TOGETHER_MODEL)
    chunks = list(
        client.chat.completions.create(
            model=TOGETHER_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    streamed = chunks[-1].usage
    assert streamed is not None
    assert fake.requests[-1].path == upstream
    records = {r["stream"]: r for r in gateway.wait_for_logs(2)}
    for stream, usage in ((False, answer.usage), (True, streamed)):
        record = records[stream]
        assert record["model"] == TOGETHER_MODEL
        assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
        assert record["usage_estimated"] is False


@pytest.mark.parametrize("model", ["openai/gpt-oss-120b", "zai-org/GLM-4.5", "bigcode/starcoder"])
def test_the_cloudflare_form_still_names_a_model_even_where_its_org_is_a_provider(
    gateway: RunningGateway, fake: FakeHuggingFace, model: str
) -> None:
    url = f"{gateway.provider_url('huggingface')}/{model}"
    assert InferenceClient(model=url, token=TOKEN).text_generation(PROMPT).startswith("echo:")
    assert fake.requests[-1].path == f"/hf-inference/models/{model}"
    assert gateway.wait_for_logs(1)[0]["model"] == model
