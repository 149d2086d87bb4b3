"""Hugging Face Inference.

Cloudflare AI Gateway puts the model right after the provider segment, `.../huggingface/{model}`,
in place of `https://api-inference.huggingface.co/models/{model}`
(https://developers.cloudflare.com/ai-gateway/usage/providers/huggingface/). That host is retired
(410 Gone, "use https://router.huggingface.co instead"), so the same paths go to its successor,
`https://router.huggingface.co/hf-inference/models/{model}`
(https://huggingface.co/docs/inference-providers/providers/hf-inference), and `.../huggingface/v1/...`
goes to the router's OpenAI-compatible API, `https://router.huggingface.co/v1/...`
(https://huggingface.co/docs/inference-providers/index) — the URL `InferenceClient(base_url=...)`
builds for `chat_completion`. Cloudflare documents no path for the router; this one keeps every
documented model path working. A path that already names one of the router's routes goes as it is:
`hf-inference/models/{model}[/pipeline/{task}]` (HF Inference) and `{provider}/{its own path}`, e.g.
`together/v1/chat/completions`, `novita/v3/openai/chat/completions`, `fal-ai/fal-ai/flux/dev`
(https://huggingface.co/docs/inference-providers/index: huggingface_hub sends a provider's route
under `https://router.huggingface.co/{provider}`).

Text generation (https://huggingface.github.io/text-generation-inference/) answers
`[{"generated_text", "details"}]`; `details` (asked with `parameters.details`) counts the generated
tokens (`generated_tokens`), and the prompt's only as `prefill` (asked with `decoder_input_details`;
else an empty list). A stream (`"stream": true`) sends `data:{"token": {...}, "generated_text": null,
"details": null}` per token; the last event has the whole text and, when asked, `details` with
`generated_tokens` and `input_length` (TGI 2; earlier servers `prompt_tokens`, or none). Where the
answer counts the output only, its usage says so (`Usage.input_unreported`) and the gateway counts
the input: `inputs`, a string or the task's object (`{"question", "context"}`: `HF_TOKEN_KEYS`),
never an image's or audio's base64 (`huggingface_inputs.py`).
Chat completions (`.../v1/chat/completions`, on the router or a model) speak OpenAI's format.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import unquote

import orjson

from sluicegate.providers.base import (
    BEARER,
    Answer,
    HostRoute,
    KeyHeader,
    RequestFacts,
    Route,
    RunningJob,
    as_stored,
)
from sluicegate.providers.cohere import COHERE
from sluicegate.providers.conversation import ConversationReader
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.huggingface_inputs import HF_TOKEN_KEYS, prompt_scope
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_conversation import OPENAI_CONVERSATIONS
from sluicegate.providers.output_caps import NO_OUTPUT, NO_OUTPUT_FIELD, CapField, capped, nested_cap_field
from sluicegate.providers.sse import iter_json
from sluicegate.providers.stream_ends import DONE_ENDS, AtItsEnd, EndRule, StreamEnds
from sluicegate.providers.texts import TextFormat, TokenKeys
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

ROUTER_PREFIX = "v1/"


def generation_finished(events: bytes) -> bool:
    """Whether a text-generation-inference stream came to its last event, the only one whose
    `generated_text` is the whole text, not null ("Only available when the generation is finished":
    https://huggingface.co/docs/huggingface.js/inference/interfaces/TextGenerationStreamOutput)."""
    last = next(iter_json(events, backwards=True), None)
    return isinstance(last, dict) and isinstance(last.get("generated_text"), str)


GENERATION_END = AtItsEnd("generated_text", generation_finished)


def _cohere_route(route: Route) -> Route | None:
    """Cohere's own route (`v2/chat`) of a path the router sends to Cohere (`cohere/v2/chat`)."""
    provider, _, rest = route.path.partition("/")
    return replace(route, path=rest) if provider == "cohere" and provider_routed(route) else None


def _marked(route: Route) -> bool:
    # Chat and completions end with `[DONE]`, Cohere's own chat (v2) with its `message-end`.
    if (cohere := _cohere_route(route)) is not None:
        return COHERE.stream_ends.marks(cohere)
    return unquote(route.path).rstrip("/").endswith("completions")


def _rule(route: Route) -> EndRule | None:
    """A model's text generation ends at its last event; Cohere's v1 streams (`cohere/v1/chat`)
    at Cohere's `stream-end`; another provider's own routes by no rule known here."""
    if (cohere := _cohere_route(route)) is not None:
        return COHERE.stream_ends.rule(cohere)
    return None if speaks_openai(route) else GENERATION_END


# Chat streams end with `[DONE]`; text-generation-inference's with their body, at its last event;
# Cohere's, relayed under `cohere/`, as Cohere's do.
STREAM_ENDS = StreamEnds(
    complete=tuple(dict.fromkeys((*DONE_ENDS.complete, *COHERE.stream_ends.complete))),
    marked=_marked,
    rules=_rule,
)
HF_INFERENCE = "hf-inference"
MODELS_PATH = f"{HF_INFERENCE}/models"
# The router's inference providers, each by its path segment and the first segment of its own
# routes (what huggingface_hub 2.4's `inference/_providers/*` `_prepare_route` send under
# `router.huggingface.co/{provider}`; the providers listed in https://huggingface.co/docs/inference-providers/index
# and earlier ones still routed). Both must match, so an org that shares a provider's name
# (`openai/gpt-oss-120b`, `zai-org/GLM-4.5`, `black-forest-labs/FLUX.1-dev`) stays a model in the
# Cloudflare form. None: the provider's routes are its own model ids (fal-ai's `fal-ai/flux/dev`).
PROVIDER_ROUTES: dict[str, frozenset[str] | None] = {
    "baseten": frozenset({"v1"}),
    "black-forest-labs": frozenset({"v1"}),
    "cerebras": frozenset({"v1"}),
    "cohere": frozenset({"compatibility", "v1", "v2"}),
    "deepinfra": frozenset({"v1"}),
    "fal-ai": None,
    "featherless-ai": frozenset({"v1"}),
    "fireworks-ai": frozenset({"inference"}),
    "groq": frozenset({"openai"}),
    "hyperbolic": frozenset({"v1"}),
    "nebius": frozenset({"v1"}),
    "novita": frozenset({"v3"}),
    "nscale": frozenset({"v1"}),
    "openai": frozenset({"v1"}),
    "ovhcloud": frozenset({"v1"}),
    "publicai": frozenset({"v1"}),
    "replicate": frozenset({"v1"}),
    "sambanova": frozenset({"v1"}),
    "scaleway": frozenset({"v1"}),
    "together": frozenset({"v1", "v2"}),
    "wavespeed": frozenset({"api"}),
    "zai-org": frozenset({"api"}),
}
# Path segments that end a model id: `{model}/v1/chat/completions`, `{model}/pipeline/{task}`.
_MODEL_SUFFIXES = frozenset({"v1", "pipeline"})
# A text generation's cap, in its `parameters`:
# https://huggingface.co/docs/inference-providers/tasks/text-generation
GENERATION_CAPS = ("max_new_tokens",)
# The tasks a model's path may name that generate no tokens: embeddings, and comparing them.
# https://huggingface.co/docs/inference-providers/tasks/feature-extraction
EMBEDDING_TASKS = ("pipeline/feature-extraction", "pipeline/sentence-similarity")


@dataclass(frozen=True, slots=True)
class HuggingFace:
    """The adapter for router.huggingface.co: models under `hf-inference/models/`, the router's `v1/`."""

    name: str = "huggingface"
    default_base_url: str = "https://router.huggingface.co"
    price_id: str | None = None  # its router resells many providers: priced by the model's name
    key_header: KeyHeader = BEARER  # https://huggingface.co/docs/inference-providers
    stream_ends: StreamEnds = STREAM_ENDS
    compat_host: str = ""
    realtime: bool = False  # no realtime WebSocket sessions
    conversations: tuple[ConversationReader, ...] = OPENAI_CONVERSATIONS  # its router speaks OpenAI's API
    key_param: str | None = None
    answer_headers: tuple[str, ...] = ()
    error_shape: ErrorShape | None = None  # the gateway's errors in OpenAI's shape
    token_keys: TokenKeys = HF_TOKEN_KEYS  # its router's, and a model's own `inputs`

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        return None  # not reachable host-in-path

    def compat_target(self) -> CompatTarget | None:
        return None  # the unified endpoint does not translate to Hugging Face

    def upstream_url(self, base_url: str, route: Route) -> str:
        path = route.path if names_route(route) else f"{MODELS_PATH}/{route.path}"
        url = f"{base_url.rstrip('/')}/{path}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        facts = OPENAI.read_request(route, body)
        if is_router(route) or provider_routed(route) or (on_hf_inference(route) and not path_model(route)):
            return facts  # OpenAI's shape: the body names the model
        payload = facts.payload if isinstance(facts.payload, dict) else {}
        parameters = payload.get("parameters")
        # The legacy Inference API also took `stream` inside `parameters`.
        stream = facts.stream or (isinstance(parameters, dict) and parameters.get("stream") is True)
        cacheable = isinstance(facts.payload, dict)  # model inference: a generation or an embedding
        return RequestFacts(
            model=path_model(route),
            stream=stream,
            payload=facts.payload,
            cacheable=cacheable,
            unreadable=facts.unreadable,
            text_scope=prompt_scope(route, payload.get("inputs")),
        )

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if speaks_openai(route):
            return OPENAI.read_usage(route, body)
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return _details_usage(_first(document).get("details"))

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        if speaks_openai(route):
            return OPENAI.read_stream_usage(route, events)
        usage = None
        for event in iter_json(events):
            details = event.get("details") if isinstance(event, dict) else None
            usage = _details_usage(details) or usage
        return usage

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if speaks_openai(route):
            return OPENAI.output_text(route, body, streamed)
        if streamed:
            return "".join(_token_text(event) for event in iter_json(body))
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        text = _first(document).get("generated_text")
        return text if isinstance(text, str) else ""

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        if speaks_openai(route):
            return OPENAI.answer_as(route, facts, stored)
        return as_stored(facts, stored)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        # The router and the models' chat endpoints speak OpenAI's API; a model's own `inputs`
        # are read by none.
        return OPENAI.text_format(route, payload)

    def output_cap(self, route: Route, payload: Any) -> int | None:
        if speaks_openai(route):
            return OPENAI.output_cap(route, payload)
        if route.path.rstrip("/").endswith(EMBEDDING_TASKS):
            return NO_OUTPUT
        # A model's own path names no task: a body without `max_new_tokens` sets no cap.
        parameters = payload.get("parameters") if isinstance(payload, dict) else None
        return capped(parameters, GENERATION_CAPS, choices=None)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        if speaks_openai(route):
            return OPENAI.cap_field(route, payload)
        if route.path.rstrip("/").endswith(EMBEDDING_TASKS):
            return NO_OUTPUT_FIELD
        return nested_cap_field(payload, ("parameters",), GENERATION_CAPS)

    def price_model(self, model: str) -> str:
        return model

    def operation(self, route: Route) -> str:
        # The router's OpenAI API; a model's own path is named by the model's name alone.
        return OPENAI.operation(route)

    def retry_delay(self, body: bytes) -> float | None:
        return None  # a refusal's wait comes in its headers

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        return False  # its 429s and 5xx may succeed when sent again

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        return None  # its requests name their model

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        return None  # its usage is in its answers: none leaves a job for the gateway to read

    def asks_usage_at(self, route: Route) -> bool:
        """Whether a chat stream at `route` goes asking for its usage chunk (pipeline/stream_usage.py):
        at the router's own API, which documents `stream_options.include_usage`
        (https://huggingface.co/docs/inference-providers/tasks/chat-completion). A provider's own
        route and a model's URL go as sent: not every server behind them is documented to take it."""
        return is_router(route)


def is_router(route: Route) -> bool:
    """True for the router's OpenAI-compatible API (`v1/chat/completions`, `v1/models`, ...)."""
    return route.path.startswith(ROUTER_PREFIX)


def on_hf_inference(route: Route) -> bool:
    """The path names HF Inference's route itself: `hf-inference/models/{model}`, `hf-inference/v1/…`."""
    return route.path.startswith(HF_INFERENCE + "/")


def provider_routed(route: Route) -> bool:
    """A provider's own route under its segment: `together/v1/chat/completions`, `fal-ai/{app}`."""
    provider, _, rest = route.path.partition("/")
    if provider not in PROVIDER_ROUTES or not rest:
        return False
    heads = PROVIDER_ROUTES[provider]
    return heads is None or rest.partition("/")[0] in heads


def names_route(route: Route) -> bool:
    """The path already names the router's route, and goes upstream as it is."""
    return is_router(route) or on_hf_inference(route) or provider_routed(route)


def speaks_openai(route: Route) -> bool:
    """The router's API, an inference provider's (its chat, embeddings, …: OpenAI's shape; an answer
    of another shape simply has no `usage` to read), or a model's chat (`{model}/v1/chat/completions`)."""
    return is_router(route) or provider_routed(route) or "/v1/" in f"/{route.path}"


def path_model(route: Route) -> str | None:
    """The model id at the start of the path, after `hf-inference/models/` when it is written:
    `bigcode/starcoder`, `gpt2`, ..."""
    path = route.path.removeprefix(MODELS_PATH + "/") if on_hf_inference(route) else route.path
    if path.startswith(HF_INFERENCE + "/"):
        return None  # `hf-inference/v1/…`: no model in the path
    segments = [unquote(segment) for segment in path.split("/") if segment]
    end = next((i for i, segment in enumerate(segments) if i and segment in _MODEL_SUFFIXES), None)
    return "/".join(segments[:end]) or None


def _first(document: Any) -> dict[str, Any]:
    """The (first) generation: the Inference API answers a list, a TGI server an object."""
    if isinstance(document, list) and document:
        document = document[0]
    return document if isinstance(document, dict) else {}


def _details_usage(details: Any) -> Usage | None:
    """Usage from a generation's `details`, whole or a stream's last event's: the output as
    `generated_tokens` counts it; the input as `prefill` lists it (whole, with
    `decoder_input_details`), else as `input_length` (a stream's, TGI 2) or `prompt_tokens` (older
    servers) count it, else unreported (`Usage.input_unreported`: the gateway counts it)."""
    if not isinstance(details, dict):
        return None
    generated = details.get("generated_tokens")
    if not _is_int(generated):
        return None
    prefill = details.get("prefill")
    prompt = len(prefill) if isinstance(prefill, list) and prefill else None
    for key in ("input_length", "prompt_tokens"):
        if prompt is None and _is_int(value := details.get(key)):
            prompt = value
    if prompt is None:
        return Usage(output_tokens=generated, input_unreported=True)
    return Usage(input_tokens=prompt, output_tokens=generated)


def _token_text(event: Any) -> str:
    token = event.get("token") if isinstance(event, dict) else None
    if not isinstance(token, dict) or token.get("special") is True:
        return ""
    text = token.get("text")
    return text if isinstance(text, str) else ""


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


HUGGINGFACE = HuggingFace()
