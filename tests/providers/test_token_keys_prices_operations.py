"""What three generic modules ask every registered provider: where its bodies hold what the token
estimator counts (`token_keys`, usage/tokens.py), the name genai-prices knows a model by
(`price_model`, usage/cost.py) and the GenAI operation of a request (`operation`, tracing.py and
otlp_logs.py).

The answers are checked against what those modules knew themselves before the providers did: the
estimator's key tables and the span names' marker table, copied here as they were.
"""

from __future__ import annotations

import pytest

from sluicegate.providers import REGISTRY, TOKEN_KEYS, operation, price_model, registry
from sluicegate.providers.base import UNNAMED_OPERATION, Provider, Route
from sluicegate.providers.texts import TokenKeys

# usage/tokens.py's tables before each provider declared its own.
TEXT_KEYS_BEFORE = frozenset(
    {
        "text", "content", "input", "prompt", "system", "instructions", "output", "parts", "contents",
        "systemInstruction", "system_instruction", "function", "name", "arguments",
    }
)  # fmt: skip
IMAGE_PART_TYPES_BEFORE = frozenset({"image_url", "input_image", "image"})
INLINE_MEDIA_KEYS_BEFORE = frozenset({"inline_data", "inlineData"})

# tracing.py's operation names by path marker before each provider named its own.
OPERATIONS_BEFORE = (
    ("embeddings", "embeddings"),
    ("embedContent", "embeddings"),
    ("embed", "embeddings"),
    ("chat/completions", "chat"),
    ("messages", "chat"),
    ("generateContent", "generate_content"),
    ("responses", "chat"),
    ("completions", "text_completion"),
)


def operation_before(path: str) -> str:
    return next((name for marker, name in OPERATIONS_BEFORE if marker in path), "request")


OPENAI_PATHS = (
    "chat/completions", "v1/chat/completions", "completions", "embeddings", "responses",
    "responses/resp_1/input_items", "audio/speech", "audio/transcriptions", "images/generations", "models",
    "files", "batches", "realtime", "moderations",
)  # fmt: skip
VERTEX = "v1/projects/p/locations/us-central1/publishers"
# The paths each provider serves (as a client sends them, after the provider segment).
PATHS: dict[str, tuple[str, ...]] = {
    "openai": OPENAI_PATHS,
    "groq": (*OPENAI_PATHS, "openai/v1/chat/completions", "openai/v1/embeddings"),
    "mistral": ("v1/chat/completions", "v1/embeddings", "v1/fim/completions", "v1/models"),
    "deepseek": (*OPENAI_PATHS, "anthropic/v1/messages", "beta/completions"),
    "openrouter": (*OPENAI_PATHS, "v1/chat/completions", "v1/completions"),
    "perplexity-ai": ("chat/completions", "v1/chat/completions"),
    "my-vllm": (*OPENAI_PATHS, "api/embed", "api/chat", "api/generate", "v1/embeddings"),
    "azure-openai": (
        "res/prod-chat/chat/completions", "res/prod-embed/embeddings", "res/dep/completions",
        "res/dep/audio/transcriptions", "res/dep/images/generations", "res/dep/responses", "res/realtime",
        "res/v1/realtime",
    ),
    "anthropic": (
        "v1/messages", "v1/messages/count_tokens", "v1/messages/batches", "v1/messages/batches/b1/results",
        "v1/complete", "v1/models", "v1/chat/completions",
    ),
    "google-ai-studio": (
        "v1beta/models/gemini-2.5-flash:generateContent",
        "v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "v1beta/models/gemini-2.5-flash%3AgenerateContent", "v1beta/models/text-embedding-004:embedContent",
        "v1beta/models/text-embedding-004:batchEmbedContents",
        "v1beta/models/gemini-embedding-001:batchEmbedContents", "v1beta/models/gemini-2.5-flash:countTokens",
        "v1beta/tunedModels/abc:generateContent", "v1beta/cachedContents", "v1beta/models",
        "v1beta/openai/chat/completions", "v1beta/openai/embeddings", "v1beta/openai/images/generations",
    ),
    "google-vertex-ai": (
        f"{VERTEX}/google/models/gemini-2.0-flash:generateContent",
        f"{VERTEX}/google/models/gemini-2.0-flash:streamGenerateContent",
        f"{VERTEX}/google/models/text-embedding-005:predict",
        f"{VERTEX}/anthropic/models/claude-sonnet-4-5:rawPredict",
        f"{VERTEX}/anthropic/models/claude-sonnet-4-5:streamRawPredict",
        f"{VERTEX}/anthropic/models/count-tokens:rawPredict",
        "v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions",
        "v1/publishers/google/models/gemini-2.5-flash:generateContent",
    ),
    "cohere": (
        "v2/chat", "v1/chat", "v2/embed", "v1/embed", "v1/generate", "v2/rerank",
        "compatibility/v1/chat/completions", "compatibility/v1/embeddings",
    ),
    "workers-ai": (
        "@cf/meta/llama-3.1-8b-instruct", "@cf%2Fmeta%2Fllama-3.1-8b-instruct", "@cf/baai/bge-base-en-v1.5",
        "@cf/google/embeddinggemma-300m", "v1/chat/completions", "v1/embeddings", "v1/responses",
    ),
    "huggingface": (
        "gpt2", "bigcode/starcoder", "nomic-ai/nomic-embed-text-v1.5",
        "meta-llama/Llama-3.1-8B-Instruct/v1/chat/completions",
        "sentence-transformers/all-MiniLM-L6-v2/pipeline/feature-extraction", "v1/chat/completions",
        "v1/models",
    ),
    "replicate": (
        "models/meta/meta-llama-3-8b-instruct/predictions",
        "v1/models/meta/meta-llama-3-8b-instruct/predictions",
        "predictions", "v1/predictions", "predictions/abc123", "deployments/acme/my-embedder/predictions",
    ),
}  # fmt: skip
PROVIDERS = registry({"my-vllm": "http://localhost:8000/v1"})
ALL_PATHS = sorted({path for paths in PATHS.values() for path in paths})


def test_every_provider_has_paths_here() -> None:
    assert set(PATHS) == set(PROVIDERS)


# What the table before named `request` by its case-sensitive markers, and is named now.
NAMED_NOW = {
    ("cohere", "v1/chat"): "chat",
    ("cohere", "v2/chat"): "chat",
    **{
        (name, path): "generate_content" if "Generate" in path else "embeddings"
        for name in ("google-ai-studio", "google-vertex-ai")
        for path in PATHS[name]
        if ":streamGenerateContent" in path or ":batchEmbedContents" in path
    },
}


@pytest.mark.parametrize("name", sorted(PATHS))
def test_span_names_of_its_paths_are_what_they_were(name: str) -> None:
    provider = PROVIDERS[name]
    for path in PATHS[name]:
        route = Route("acct", path, "alt=sse")
        expected = NAMED_NOW.get((name, path), operation_before(path))
        assert provider.operation(route) == expected, path
        if name in REGISTRY:  # a log record, or a request no step was planned for, knows only the name
            assert operation(name, route) == expected, path


@pytest.mark.parametrize(
    ("name", "path", "expected"),
    [
        ("google-ai-studio", "v1beta/models/gemini-2.5-flash:streamGenerateContent", "generate_content"),
        ("google-ai-studio", "v1beta/models/text-multilingual-002:batchEmbedContents", "embeddings"),
        (
            "google-vertex-ai",
            "v1/projects/p/locations/l/publishers/google/models/g:streamGenerateContent",
            "generate_content",
        ),
        ("cohere", "v2/chat", "chat"),
        ("cohere", "v1/chat", "chat"),
    ],
)
def test_streamed_and_batched_gemini_calls_and_cohere_chat_are_named(
    name: str, path: str, expected: str
) -> None:
    # The table before named these `request` (its markers were case-sensitive and had no `chat`).
    assert operation_before(path) == UNNAMED_OPERATION
    assert REGISTRY[name].operation(Route("acct", path)) == expected


@pytest.mark.parametrize(
    "name", ["universal", "compat", "my-vllm", "generativelanguage.googleapis.com", "api.anthropic.com"]
)
def test_a_name_no_provider_is_registered_by_names_every_path_as_before(name: str) -> None:
    # A custom provider, the universal and compat endpoints, a host-in-path request's host.
    for path in ALL_PATHS:
        owners = [owner for owner, paths in PATHS.items() if path in paths]
        now = {NAMED_NOW[owner, path] for owner in owners if (owner, path) in NAMED_NOW}
        assert operation(name, Route("acct", path)) in (now or {operation_before(path)}), path


def test_operations_that_name_a_generation() -> None:
    names = {
        ("openai", "chat/completions"): "chat",
        ("openai", "responses"): "chat",
        ("openai", "completions"): "text_completion",
        ("openai", "embeddings"): "embeddings",
        ("openai", "audio/speech"): UNNAMED_OPERATION,
        ("anthropic", "v1/messages"): "chat",
        ("google-ai-studio", "v1beta/models/gemini-2.5-flash:generateContent"): "generate_content",
        ("google-ai-studio", "v1beta/models/text-embedding-004:embedContent"): "embeddings",
        ("cohere", "v2/embed"): "embeddings",
        ("replicate", "models/meta/meta-llama-3-8b-instruct/predictions"): UNNAMED_OPERATION,
    }
    assert {key: REGISTRY[key[0]].operation(Route("acct", key[1])) for key in names} == names


def test_the_estimator_reads_the_keys_it_read_before() -> None:
    before = TokenKeys(
        turns=frozenset({"messages"}),
        # and since: Gemini's `batchEmbedContents` holds its texts under `requests`
        text=TEXT_KEYS_BEFORE | {"requests"},
        image_types=IMAGE_PART_TYPES_BEFORE,
        media=INLINE_MEDIA_KEYS_BEFORE,
        # and since: the tools offered (chat's legacy `functions` too), counted as their JSON
        schemas=frozenset({"tools", "functions"}),
        # and since: Anthropic's documents' and search results' `title`, `context` and `source`, in
        # those blocks only, and a document's plain-text source's `data` (a PDF's is base64)
        typed_text=frozenset(
            {
                ("document", "title"),
                ("document", "context"),
                ("document", "source"),
                ("document/text", "data"),
                ("search_result", "title"),
                ("search_result", "source"),
            }
        ),
        # and since: a Hugging Face task's `inputs` object's texts, there only
        inner_text=frozenset(
            ("inputs", key) for key in ("question", "context", "source_sentence", "sentences", "query")
        ),
        # and since: a Hugging Face model's prompt under `inputs`, in the bodies its adapter reads as
        # one only (not an image's base64, not another provider's `inputs`)
        # and a Vertex AI embedding's `instances` (`:predict`), in the bodies read as one only
        scoped_text=frozenset({("huggingface", "inputs"), ("vertex_embed_predict", "instances")}),
    )
    assert before == TOKEN_KEYS


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_every_provider_declares_where_its_bodies_hold_text(name: str) -> None:
    keys = PROVIDERS[name].token_keys
    assert isinstance(keys, TokenKeys)
    assert keys.text, name


def test_the_gemini_api_counts_inline_media_and_no_other_does() -> None:
    with_media = sorted(name for name, provider in PROVIDERS.items() if provider.token_keys.media)
    assert with_media == ["google-ai-studio", "google-vertex-ai"]


def test_a_provider_whose_guardrails_read_chat_counts_chat_turns() -> None:
    chat = Route("acct", "v1/chat/completions")
    body = {"messages": [{"role": "user", "content": "hi"}]}
    reads_chat: list[Provider] = [p for p in PROVIDERS.values() if p.text_format(chat, body) is not None]
    assert len(reads_chat) > 5
    assert all("messages" in provider.token_keys.turns for provider in reads_chat)


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_price_model_names(name: str) -> None:
    provider = PROVIDERS[name]
    assert provider.price_model("gpt-4o") == "gpt-4o"
    gemini = name in ("google-ai-studio", "google-vertex-ai")
    # The Gemini API names a model by its resource name; others' names are priced as sent.
    expected = "gemini-2.5-flash" if gemini else "models/gemini-2.5-flash"
    assert provider.price_model("models/gemini-2.5-flash") == expected
    assert price_model(name, "models/gemini-2.5-flash") == expected


def test_price_model_of_a_name_not_registered_is_the_name() -> None:
    assert price_model("my-vllm", "models/qwen") == "models/qwen"
