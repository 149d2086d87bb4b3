"""The provider adapter contract.

Adapters are pure: no network, no clock, no globals. The pipeline asks an adapter where a request
goes (`upstream_url`, `host_route`), what it is (`read_request`), how much it used (`read_usage`,
`read_stream_usage`, `output_text`), how a cached answer is served to it (`answer_as`), which texts
of its bodies guardrails read (`text_format`), where its key goes (`key_header`, and `key_param`
when a client may put it in the query), how its prices are found (`price_id`, `price_model`), what
ends its streams (`stream_ends`), what the semantic cache compares in its bodies (`conversations`),
how the unified endpoint translates to it (`compat_target`), where its request bodies hold what the
token estimator counts (`token_keys`), how long a request lets its answer grow (`output_cap`, for
token and cost reservations, and `cap_field`, the field that sets it), which GenAI operation a
request performs (`operation`, for spans and log exports), how its API words errors
(`error_shape`, for the gateway's own) and which of its answers leave a job running whose usage
comes later (`running_job`); `upstream.py` does the talking.
Everything about a provider is in its module: the generic modules ask, never branch on a name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import orjson

from sluicegate.providers.json_body import JsonProblem, declared_json, read_json
from sluicegate.providers.multipart import form_problem
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget
    from sluicegate.providers.answer_links import AnswerLinks
    from sluicegate.providers.conversation import ConversationReader
    from sluicegate.providers.error_shapes import ErrorShape
    from sluicegate.providers.output_caps import CapField
    from sluicegate.providers.stream_ends import StreamEnds
    from sluicegate.providers.texts import TextFormat, TokenKeys


@dataclass(frozen=True, slots=True)
class KeyHeader:
    """Where a provider takes its API key: a header and the key's place in its value."""

    name: str = "Authorization"
    template: str = "Bearer {key}"

    def value(self, key: str) -> str:
        return self.template.format(key=key)

    @property
    def is_bearer(self) -> bool:
        return self.name.lower() == "authorization"


BEARER = KeyHeader()  # most providers (https://platform.openai.com/docs/api-reference/authentication)


@dataclass(frozen=True, slots=True)
class HostRoute:
    """A host-in-path request (`/{host}/{path}`) as this provider takes it: the path it sees and
    the base URL to send it to (None: the adapter's own default)."""

    path: str
    base_url: str | None


@dataclass(frozen=True, slots=True)
class Route:
    """Where a request was sent: `path` is what follows the provider segment, still percent-encoded
    as the client sent it (`chat/completions`, `@cf/meta/llama-3.1-8b-instruct`); `query` has no `?`.
    """

    account: str
    path: str
    query: str = ""


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the rest of the pipeline needs to know about one request body."""

    model: str | None = None
    stream: bool = False
    payload: Any = None  # the parsed JSON body, None when the body is not JSON
    cacheable: bool = False  # a generation or embedding whose answer may be reused (never a side effect)
    # Where the route itself names the stream choice (Gemini's `:streamGenerateContent?alt=sse`): the
    # route of the same call unstreamed, which the caches file its answer under, so a streamed and a
    # whole request share one entry (a custom key's) or scope (the semantic cache's). None: the route.
    answer_route: Route | None = None
    # Units the request itself says it is billed for, when the answer reports none (DALL·E's images,
    # speech's characters); a usage the answer reports comes first.
    billed: Usage | None = None
    # Billed by what its answer alone reports (a transcription: the audio's seconds, or its tokens),
    # which nothing else can count: a successful answer without it cost what no one knows (unpriced).
    priced_by_answer: bool = False
    # The most searches the provider's own search tool may run for it, billed per search (Anthropic's
    # `web_search` tool's `max_uses`): what a cost rule reserves for them beside the tokens.
    searches: int = 0
    # Why a body that starts as JSON could not be read as JSON (refused by its declared Content-Type).
    unreadable: JsonProblem | None = None
    # Where the body holds text at top-level keys only its provider knows to be a prompt in this
    # request (`TokenKeys.scoped_text`): a Hugging Face model's `inputs` that are no file in base64.
    text_scope: str | None = None
    # Billed in a unit no price has (a Gemini context cache's storage): unpriced but a custom cost.
    unpriced_units: bool = False
    # A request for a realtime session the provider serves the client directly, or an ephemeral key
    # for one (OpenAI's client secrets, a WebRTC call): the route path of the relayed session that
    # stands in for it, which the gateway checks and meters (pipeline/keys.py). None: not one.
    relayed_instead: str | None = None
    # An answer that hands the client URLs of the provider's own to read next (Anthropic's batch
    # `results_url`): the gateway's URLs go in their place (providers/answer_links.py).
    links: AnswerLinks | None = None


NO_FACTS = RequestFacts()


@dataclass(frozen=True, slots=True)
class RunningJob:
    """A job an answer describes as still running (a Replicate prediction `starting`): its `job` id,
    as the usage of its finished read names it (`Usage.job`), and the `route` that reads it."""

    job: str
    route: Route


JSON_TYPE = "application/json"
SSE_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete answer as a cache keeps it: one JSON document, or (`streamed`) a whole stream.

    `content_type` is set on an answer converted from the other form; None keeps the stored header.
    """

    body: bytes
    streamed: bool
    content_type: str | None = None


# OpenTelemetry's GenAI operation names (`gen_ai.operation.name`) by a marker in a request's path,
# the first one the path contains naming it: https://opentelemetry.io/docs/specs/semconv/gen-ai/
OperationMarkers = tuple[tuple[str, str], ...]
UNNAMED_OPERATION = "request"  # a path no marker names


def operation_by_markers(route: Route, markers: OperationMarkers) -> str:
    """The operation the first of `markers` found in `route.path` names (as sent, case-sensitive)."""
    return next((name for marker, name in markers if marker in route.path), UNNAMED_OPERATION)


def as_stored(facts: RequestFacts, stored: Answer) -> Answer | None:
    """For answers no conversion is written for: served only in the form they were stored in."""
    return stored if stored.streamed == facts.stream else None


def converted(
    facts: RequestFacts,
    stored: Answer,
    fold: Callable[[bytes], dict[str, Any] | None],
    unfold: Callable[[dict[str, Any]], bytes | None],
) -> Answer | None:
    """`stored` in the form the request asks for, through a format's two conversions: `fold` (a
    stream into the whole answer it built) and `unfold` (a whole answer into the events that
    build it); None when the stored answer is not one they read."""
    if stored.streamed == facts.stream:
        return stored
    if stored.streamed:
        whole = fold(stored.body)
        return None if whole is None else Answer(orjson.dumps(whole), False, JSON_TYPE)
    try:
        document = orjson.loads(stored.body)
    except orjson.JSONDecodeError:
        return None
    events = unfold(document) if isinstance(document, dict) else None
    return None if events is None else Answer(events, True, SSE_TYPE)


def json_facts(body: bytes, cacheable: bool) -> RequestFacts:
    """Facts of a JSON request body with top-level `model` and `stream` (most providers' shape).

    Never raises: a body not meant as JSON has no facts, one meant as JSON that cannot be read says
    why (`unreadable`), one that is not an object has only a payload.
    """
    payload, problem = read_json(body)
    if problem is not None:
        return RequestFacts(unreadable=problem)
    if payload is None:
        return NO_FACTS
    if not isinstance(payload, dict):
        return RequestFacts(payload=payload)
    model = payload.get("model")
    return RequestFacts(
        model=model if isinstance(model, str) else None,
        stream=payload.get("stream") is True,
        payload=payload,
        cacheable=cacheable,
    )


def unreadable(facts: RequestFacts, body: bytes, content_type: str | None) -> JsonProblem | None:
    """Why a request whose body an adapter read as `facts` is refused, or None: its body is meant as
    JSON and cannot be read, so nothing in it could be counted against a limit or a budget; or a
    multipart form the gateway would read other fields of than its provider (`form_problem`).

    The request's `content_type` decides what is meant as JSON: a body declared JSON is, however it
    starts; one declared multipart, octet-stream, audio, image or video never is (a form's preamble,
    raw bytes for Workers AI or Hugging Face); for any other type the adapter's reading of its first
    bytes stands.
    """
    declared = declared_json(content_type)
    if declared is False:
        return form_problem(facts.unreadable, body, content_type)  # a form framed two ways, say
    if declared and facts.unreadable is None and facts.payload is None:
        # It did not start as JSON would (or it is `null`), yet the client says it is JSON.
        return read_json(body, declared=True)[1]
    return facts.unreadable


class Provider(Protocol):
    """One upstream API. `name` is its URL slug in `/v1/{account}/{gateway}/{name}/...`."""

    @property
    def name(self) -> str: ...

    @property
    def default_base_url(self) -> str: ...

    @property
    def key_header(self) -> KeyHeader:
        """Where a stored key goes when the gateway injects one."""
        ...

    @property
    def price_id(self) -> str | None:
        """genai-prices' id of this provider; None lets it guess the provider from the model name."""
        ...

    @property
    def stream_ends(self) -> StreamEnds: ...

    @property
    def compat_host(self) -> str:
        """The host that `/compat/openai/{host}/…` reaches as this provider ("" for none)."""
        ...

    @property
    def realtime(self) -> bool:
        """Whether it serves realtime WebSocket sessions (OpenAI's Realtime API, `openai_realtime.py`)."""
        ...

    @property
    def conversations(self) -> tuple[ConversationReader, ...]:
        """The readers of its API's bodies the semantic cache compares, in the order a body is
        tried (`providers/conversation.py`); a body none of them reads is answered upstream."""
        ...

    @property
    def key_param(self) -> str | None:
        """The query parameter a client may send its key in instead of a header (Google's `key`);
        None for none. With `cache_per_key`, it keeps cache entries apart like a key header."""
        ...

    @property
    def error_shape(self) -> ErrorShape | None:
        """How its API words errors, in which the gateway words its own on its provider endpoint
        (`providers/error_shapes.py`), so its SDKs read them as its own; None: OpenAI's."""
        ...

    @property
    def answer_headers(self) -> tuple[str, ...]:
        """Request headers (lower case) that change what the provider answers, such as Anthropic's
        `anthropic-beta`: cached answers are kept apart by their values."""
        ...

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        """`/{host}/{path}` as this provider takes it, None when `host` is not one of its hosts.
        `override` is the base URL configured for the host (`host_overrides`), if any."""
        ...

    def compat_target(self) -> CompatTarget | None:
        """How the unified endpoint translates a chat request for this provider; None when it
        takes OpenAI's API as it is, or cannot be reached from there."""
        ...

    def upstream_url(self, base_url: str, route: Route) -> str:
        """The URL that `route` maps to under `base_url` (the default or the configured one)."""
        ...

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        """Model and stream flag of a request; never raises on a body it cannot read."""
        ...

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        """Usage reported in a complete (non-streamed) response body, or None."""
        ...

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        """Usage reported in a complete SSE stream, or None when the stream carried none."""
        ...

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        """The generated text of a response, for counting tokens when no usage was reported."""
        ...

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        """A cached answer (`stored`) in the form the request at `route` asks for: a JSON document
        or a stream, with the stream's options (OpenAI's usage chunk, Gemini's `alt=sse`). `stored`
        itself when it fits; None when it cannot be converted, and so must not be served."""
        ...

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        """How guardrails read the texts of a request to `route` (`payload`: its parsed body) and
        of its answer; None for what they cannot read (embeddings, images, a model's own input)."""
        ...

    @property
    def token_keys(self) -> TokenKeys:
        """Where the request bodies of the APIs it speaks hold what the token estimator counts
        (`providers/texts.py`); the estimator reads every body with all providers' (`TOKEN_KEYS`),
        a scoped key (`scoped_text`) only in a body whose `read_request` named its scope."""
        ...

    def output_cap(self, route: Route, payload: Any) -> int | None:
        """The most output tokens a request to `route` (`payload`: its parsed body, None when not
        JSON) lets its answer take, all its choices together: what a token or cost rule reserves for
        the answer. 0 for a request that generates none (embeddings); None when the body sets no cap
        (`providers/output_caps.py`): `cap_field`'s total. Runs on every request under such a rule:
        keep it to lookups."""
        ...

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        """Where the body sets `output_cap` (`max_tokens`, `generationConfig.maxOutputTokens`), to how
        much for each of how many answers; `NO_OUTPUT_FIELD` for a request that generates none. What
        a refusal of its reservation tells the client to lower (pipeline/reservation_refusal.py)."""
        ...

    def price_model(self, model: str) -> str:
        """`model` (lowercased) as genai-prices names it, e.g. without a resource path's collection;
        the price overrides are looked up by the name as sent, before this."""
        ...

    def operation(self, route: Route) -> str:
        """The GenAI operation a request to `route` performs (`chat`, `embeddings`, ...), for spans
        and log exports; `request` when its path names none (`operation_by_markers`)."""
        ...

    def retry_delay(self, body: bytes) -> float | None:
        """Seconds the provider asks a refused request to wait, when it says so in the error body
        rather than in a `Retry-After` header (Google's `RetryInfo`); None for none."""
        ...

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        """Whether an answer of `status` that is otherwise retried (429, 5xx), with error `body`,
        says that sending the request again with the same key cannot succeed: OpenAI's 429
        `insufficient_quota`, the key's account out of credit or over its spending limit. Such an
        answer falls back at once, and a stored key it refused rests long (pipeline/keys.py)."""
        ...

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        """The model a successful answer says it came from where the request cannot say which model
        runs it (Azure: the deployment decides, whatever the body's `model`); it prices the answer.
        None where the request's model is the one that ran."""
        ...

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        """The job a successful JSON answer at `route` describes as still running, whose usage only
        a later read of it, finished, reports (a Replicate prediction created without waiting): the
        gateway reads it until it has finished (pipeline/jobs.py). None for any other answer."""
        ...


def repeated_base_path(provider: Provider, route: Route) -> tuple[str, str] | None:
    """The end of the provider's base URL path that `route` repeats and the path meant, or None.

    `v1/chat/completions` under `https://api.openai.com/v1` reaches `/v1/v1/chat/completions`,
    which no provider serves: the mark of an SDK pointed at `…/openai/v1` instead of `…/openai`.
    Returns the repeated part (`v1/`) and the path without it (`chat/completions`).
    """
    base = provider.default_base_url
    base_path = urlsplit(base).path.strip("/")
    if not base_path or "{" in base:  # a templated host (Azure) maps paths its own way
        return None
    segments = base_path.split("/")
    # The common case, cheaply: a path that starts with no segment of the base repeats none of it
    # (a prefix an adapter strips, as groq's `openai/v1/`, is made of the base's segments too).
    if route.path.partition("/")[0] not in segments:
        return None
    sent = urlsplit(provider.upstream_url(base, route)).path.lstrip("/")
    if not sent.startswith(base_path + "/"):
        return None
    after = sent[len(base_path) + 1 :]
    for start in range(len(segments)):
        end = "/".join(segments[start:]) + "/"
        if after.startswith(end):
            return end, after[len(end) :]
    return None
