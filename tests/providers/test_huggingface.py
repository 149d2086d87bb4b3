"""The Hugging Face adapter on recorded bodies and streams: URLs, facts, usage, generated text."""

from __future__ import annotations

import base64

import orjson

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.huggingface import HUGGINGFACE
from sluicegate.types import Usage
from sluicegate.usage.tokens import TokenCounter
from tests.image_files import photo_png

GENERATE = Route("local", "bigcode/starcoder")
ROUTER_CHAT = Route("local", "v1/chat/completions")
MODEL_CHAT = Route("local", "meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions")

TOKENS = [
    {"id": 3394, "text": " Deep", "logprob": -0.97, "special": False},
    {"id": 8757, "text": " Learning", "logprob": -0.39, "special": False},
]
# `details` with `decoder_input_details`: prefill lists the prompt's tokens.
GENERATED = orjson.dumps(
    [
        {
            "generated_text": " Deep Learning",
            "details": {
                "finish_reason": "length",
                "generated_tokens": 2,
                "seed": None,
                "prefill": [{"id": 1, "text": "<s>", "logprob": None}, {"id": 1724, "text": "What"}],
                "tokens": TOKENS,
            },
        }
    ]
)
# As TGI sends it (`data:` without a space); the last event has the details when they were asked.
STREAM = (
    b'data:{"index":1,"token":{"id":3394,"text":" Deep","logprob":-0.97,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"index":2,"token":{"id":8757,"text":" Learning","logprob":-0.39,"special":false},'
    b'"generated_text":null,"details":null}\n\n'
    b'data:{"index":3,"token":{"id":2,"text":"</s>","logprob":-0.01,"special":true},'
    b'"generated_text":" Deep Learning","details":{"finish_reason":"eos_token","generated_tokens":3,'
    b'"seed":null,"input_length":7}}\n\n'
)


def test_registered_under_its_slug() -> None:
    assert REGISTRY["huggingface"] is HUGGINGFACE


def test_models_go_to_hf_inference_and_v1_to_the_router() -> None:
    base = HUGGINGFACE.default_base_url
    assert (
        HUGGINGFACE.upstream_url(base, GENERATE)
        == "https://router.huggingface.co/hf-inference/models/bigcode/starcoder"
    )
    assert HUGGINGFACE.upstream_url(base, ROUTER_CHAT) == "https://router.huggingface.co/v1/chat/completions"
    assert (
        HUGGINGFACE.upstream_url("http://127.0.0.1:9/", MODEL_CHAT)
        == "http://127.0.0.1:9/hf-inference/models/meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions"
    )
    assert HUGGINGFACE.upstream_url("http://h", Route("local", "gpt2", "wait_for_model=true")) == (
        "http://h/hf-inference/models/gpt2?wait_for_model=true"
    )


def test_request_facts() -> None:
    facts = HUGGINGFACE.read_request(GENERATE, b'{"inputs": "def f(", "stream": true}')
    assert (facts.model, facts.stream, facts.payload) == (
        "bigcode/starcoder",
        True,
        {"inputs": "def f(", "stream": True},
    )
    legacy = HUGGINGFACE.read_request(GENERATE, b'{"inputs": "x", "parameters": {"stream": true}}')
    assert legacy.stream is True
    assert HUGGINGFACE.read_request(GENERATE, b'{"inputs": "x"}').stream is False
    chat = HUGGINGFACE.read_request(MODEL_CHAT, b'{"model": "tgi", "messages": []}')
    assert chat.model == "meta-llama/Llama-3.1-8B-Instruct"
    pipeline = Route("local", "sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction")
    assert HUGGINGFACE.read_request(pipeline, b"{}").model == "sentence-transformers/all-MiniLM-L6-v2"
    assert HUGGINGFACE.read_request(Route("local", "gpt2"), b"").model == "gpt2"
    routed = HUGGINGFACE.read_request(
        ROUTER_CHAT, b'{"model": "Qwen/Qwen2.5-72B-Instruct:nscale", "stream": true}'
    )
    assert (routed.model, routed.stream) == ("Qwen/Qwen2.5-72B-Instruct:nscale", True)


def test_inputs_are_counted_where_they_are_a_prompt_only() -> None:
    # The estimate of an answer without usage (and a token rule's reservation) counts `inputs` in
    # the bodies the adapter read as a prompt: a text generation's, a list of texts, a task's object;
    # never an image's or audio's base64 (huggingface_hub's binary tasks with parameters).
    counter = TokenCounter()

    def counted(path: str, payload: object) -> int:
        facts = HUGGINGFACE.read_request(Route("local", path), orjson.dumps(payload))
        return counter.count_request_input(facts)

    prompt = counter.count_text("def f(x):")
    assert counted("bigcode/starcoder", {"inputs": "def f(x):"}) == prompt
    assert counted("hf-inference/models/gpt2", {"inputs": "def f(x):", "parameters": {"top_k": 5}}) == prompt
    assert counted("m/pipeline/feature-extraction", {"inputs": ["def f(x):"]}) == prompt
    assert counted("deepset/roberta-base-squad2", {"inputs": {"question": "def f(x):"}}) == prompt
    # One long word, a DNA sequence: text, not base64.
    assert counted("gpt2", {"inputs": "ACGT" * 100}) == counter.count_text("ACGT" * 100)
    image = base64.b64encode(photo_png(64, 64)).decode()
    audio = base64.b64encode(b"RIFF\x24\x08\0\0WAVEfmt " + bytes(range(256)) * 8).decode()
    vit = "hf-inference/models/google/vit-base-patch16-224"
    assert counted(vit, {"inputs": image, "parameters": {"top_k": 2}}) == 0
    assert counted(vit, {"inputs": image}) == 0
    assert counted(f"{vit}/pipeline/image-classification", {"inputs": "a cat"}) == 0
    assert (
        counted("openai/whisper-large-v3", {"inputs": audio, "parameters": {"return_timestamps": True}}) == 0
    )
    assert counted("gpt2", {"inputs": f"data:image/png;base64,{image}"}) == 0
    # A visual question: the question is counted, the image is not.
    question = {"inputs": {"image": image, "question": "def f(x):"}}
    assert counted("dandelin/vilt-b32-finetuned-vqa/pipeline/visual-question-answering", question) == prompt


def test_usage_from_generation_details() -> None:
    assert HUGGINGFACE.read_usage(GENERATE, GENERATED) == Usage(input_tokens=2, output_tokens=2)
    # Without prefill (no `decoder_input_details`) the output is still the answer's count; the
    # prompt's is unreported, for the gateway to count.
    plain = GENERATED.replace(
        b'"prefill":[{"id":1,"text":"<s>","logprob":null},{"id":1724,"text":"What"}]', b'"prefill":[]'
    )
    assert HUGGINGFACE.read_usage(GENERATE, plain) == Usage(output_tokens=2, input_unreported=True)
    without = GENERATED.replace(
        b',"prefill":[{"id":1,"text":"<s>","logprob":null},{"id":1724,"text":"What"}]', b""
    )
    assert HUGGINGFACE.read_usage(GENERATE, without) == Usage(output_tokens=2, input_unreported=True)
    counted = plain.replace(b'"prefill":[]', b'"prefill":[],"prompt_tokens":5')  # servers that say it
    assert HUGGINGFACE.read_usage(GENERATE, counted) == Usage(input_tokens=5, output_tokens=2)
    assert HUGGINGFACE.read_usage(GENERATE, b'[{"generated_text": "x"}]') is None
    assert (
        HUGGINGFACE.read_usage(GENERATE, b'{"error": "Model is overloaded", "error_type": "overloaded"}')
        is None
    )
    assert HUGGINGFACE.read_usage(GENERATE, b"[]") is None
    chat = b'{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}'
    assert HUGGINGFACE.read_usage(ROUTER_CHAT, chat) == Usage(input_tokens=9, output_tokens=4)
    assert HUGGINGFACE.read_usage(MODEL_CHAT, chat) == Usage(input_tokens=9, output_tokens=4)


def test_usage_from_streams() -> None:
    assert HUGGINGFACE.read_stream_usage(GENERATE, STREAM) == Usage(input_tokens=7, output_tokens=3)
    older = STREAM.replace(b'"input_length"', b'"prompt_tokens"')
    assert HUGGINGFACE.read_stream_usage(GENERATE, older) == Usage(input_tokens=7, output_tokens=3)
    no_details = STREAM.replace(
        b'"details":{"finish_reason":"eos_token","generated_tokens":3,"seed":null,"input_length":7}',
        b'"details":null',
    )
    assert HUGGINGFACE.read_stream_usage(GENERATE, no_details) is None
    oldest = STREAM.replace(b',"input_length":7', b"")  # TGI 1: the generated tokens only
    assert HUGGINGFACE.read_stream_usage(GENERATE, oldest) == Usage(output_tokens=3, input_unreported=True)
    chat = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\ndata: [DONE]\n\n'
    )
    assert HUGGINGFACE.read_stream_usage(ROUTER_CHAT, chat) == Usage(input_tokens=3, output_tokens=1)


def test_output_text() -> None:
    assert HUGGINGFACE.output_text(GENERATE, GENERATED, streamed=False) == " Deep Learning"
    assert HUGGINGFACE.output_text(GENERATE, b'{"generated_text": "tgi"}', streamed=False) == "tgi"
    assert HUGGINGFACE.output_text(GENERATE, STREAM, streamed=True) == " Deep Learning"  # no special token
    chat = b'{"choices":[{"index":0,"message":{"role":"assistant","content":"Hello."}}]}'
    assert HUGGINGFACE.output_text(ROUTER_CHAT, chat, streamed=False) == "Hello."
    assert HUGGINGFACE.output_text(GENERATE, b"<html>", streamed=False) == ""
    assert HUGGINGFACE.output_text(GENERATE, b'data:{"token":"x"}\n\n', streamed=True) == ""


def test_paths_that_name_a_router_route_go_as_they_are() -> None:
    base = HUGGINGFACE.default_base_url
    for path in (
        "hf-inference/models/openai-community/gpt2",
        "hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction",
        "together/v1/chat/completions",
        "novita/v3/openai/chat/completions",
        "fireworks-ai/inference/v1/chat/completions",
        "groq/openai/v1/chat/completions",
        "cohere/compatibility/v1/chat/completions",
        "fal-ai/fal-ai/flux/dev",
    ):
        assert HUGGINGFACE.upstream_url(base, Route("local", path)) == f"{base}/{path}"
    # An org that shares a provider's name is still a model in Cloudflare's form.
    for model in ("openai/gpt-oss-120b", "zai-org/GLM-4.5", "black-forest-labs/FLUX.1-dev"):
        assert HUGGINGFACE.upstream_url(base, Route("local", model)) == f"{base}/hf-inference/models/{model}"
        assert HUGGINGFACE.read_request(Route("local", model), b'{"inputs": "x"}').model == model


def test_the_model_of_a_router_route() -> None:
    chat = orjson.dumps({"model": "meta-llama/Llama-3.3-70B-Instruct", "messages": []})
    assert HUGGINGFACE.read_request(Route("local", "together/v1/chat/completions"), chat).model == (
        "meta-llama/Llama-3.3-70B-Instruct"
    )
    pipeline = Route("local", "hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction")
    assert HUGGINGFACE.read_request(pipeline, b'{"inputs": "x"}').model == "BAAI/bge-small-en-v1.5"
    usage = orjson.dumps({"usage": {"prompt_tokens": 11, "completion_tokens": 7}})
    assert HUGGINGFACE.read_usage(Route("local", "novita/v3/openai/chat/completions"), usage) == Usage(
        input_tokens=11, output_tokens=7
    )
