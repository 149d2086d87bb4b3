"""Replicate's HTTP API.

Cloudflare AI Gateway maps `.../replicate/{path}` to `https://api.replicate.com/v1/{path}`
(https://developers.cloudflare.com/ai-gateway/usage/providers/replicate/). The official clients
take the API's host as their base URL and add `/v1` themselves
(https://github.com/replicate/replicate-python, `client.py`), so `.../replicate/v1/{path}` is
accepted too: Replicate has no resource named `v1`, so the alias is unambiguous.

Predictions (https://replicate.com/docs/reference/http#predictions.create) are JSON objects whose
`status` moves from `starting`/`processing` to `succeeded`, `failed` or `canceled`; with
`Prefer: wait` the create call holds until the prediction is done. Language models report tokens in
the finished prediction's `metrics` (`input_token_count`, `output_token_count`), in every read of it
once it has finished: the first read that reports them counts them (`Usage.job`). Output streams
are served from another host (the prediction's `urls.stream`); the gateway relays response bodies
byte for byte and leaves that URL as Replicate gives it, so a stream goes to Replicate directly,
and a client that streams (the official client's `stream()`), takes a webhook or stops waiting may
never read the prediction again. So an answer of a prediction still running that streams its
output (`urls.stream`: a language model's, the predictions that report tokens) names it
(`running_job`), and the gateway reads it itself until it has finished (pipeline/jobs.py): its
tokens are counted by that read, or by a client's read that came first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import quote, unquote

import orjson

from sluicegate.providers.base import (
    BEARER,
    NO_FACTS,
    Answer,
    HostRoute,
    KeyHeader,
    OperationMarkers,
    RequestFacts,
    Route,
    RunningJob,
    as_stored,
    operation_by_markers,
)
from sluicegate.providers.conversation import ConversationReader
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.json_body import read_json
from sluicegate.providers.output_caps import NO_OUTPUT, NO_OUTPUT_FIELD, CapField, capped, nested_cap_field
from sluicegate.providers.sse import iter_events
from sluicegate.providers.stream_ends import ENDS_WITH_BODY, StreamEnds
from sluicegate.providers.texts import TextFormat, TokenKeys
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

SDK_PREFIX = "v1/"
# Prediction states: https://replicate.com/docs/topics/predictions/lifecycle
RUNNING = frozenset({"starting", "processing"})
# Resources whose next two path segments name a model: models/{owner}/{name}/predictions, ...
_OWNED = frozenset({"models", "deployments"})
# A prediction's `input`, and the `prompt` language models take in it.
TOKEN_KEYS = TokenKeys(text=frozenset({"input", "prompt"}))
# Predictions are named by none but an embedding model's (`models/{owner}/{name}/predictions`).
OPERATIONS: OperationMarkers = (("embed", "embeddings"),)
# A language model's cap, in the prediction's `input`, where each model names its own: most take
# `max_tokens` (https://replicate.com/meta/meta-llama-3.1-405b-instruct), older ones (Llama 2)
# `max_new_tokens`, OpenAI's models there `max_completion_tokens`.
INPUT_CAPS = ("max_tokens", "max_new_tokens", "max_completion_tokens")


@dataclass(frozen=True, slots=True)
class Replicate:
    """The adapter for api.replicate.com/v1."""

    name: str = "replicate"
    default_base_url: str = "https://api.replicate.com/v1"
    price_id: str | None = None  # not in genai-prices: see price_overrides.json
    key_header: KeyHeader = BEARER  # https://replicate.com/docs/reference/http#authentication
    stream_ends: StreamEnds = ENDS_WITH_BODY  # its answers are predictions, not streams of events
    compat_host: str = ""
    realtime: bool = False  # no realtime WebSocket sessions
    conversations: tuple[ConversationReader, ...] = ()  # a model's own `input`: none read
    key_param: str | None = None
    answer_headers: tuple[str, ...] = ()
    error_shape: ErrorShape | None = None  # the gateway's errors in OpenAI's shape
    token_keys: TokenKeys = TOKEN_KEYS

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        return None  # not reachable host-in-path

    def compat_target(self) -> CompatTarget | None:
        return None  # the unified endpoint does not translate to Replicate

    def upstream_url(self, base_url: str, route: Route) -> str:
        url = f"{base_url.rstrip('/')}/{api_path(route)}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        """Model from the path (`models/{owner}/{name}/...`, `deployments/...`) or the body's `version`.

        `stream` stays False: `"stream": true` asks Replicate for a `urls.stream`; the answer
        itself is JSON.
        """
        payload, problem = read_json(body)
        if problem is not None:
            return RequestFacts(model=_path_model(route), unreadable=problem)
        if payload is None:
            return RequestFacts(model=_path_model(route)) if body == b"" else NO_FACTS
        model = _path_model(route)
        if model is None and isinstance(payload, dict):
            model = _version_model(payload.get("version"))
        return RequestFacts(model=model, payload=payload)

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        prediction = _json(body)
        if not isinstance(prediction, dict):
            return None
        if prediction.get("status") in RUNNING:
            # Nothing has run yet: the tokens are reported when the prediction is read finished.
            return Usage()
        metrics = prediction.get("metrics")
        if not isinstance(metrics, dict):
            return None
        input_tokens, output_tokens = metrics.get("input_token_count"), metrics.get("output_token_count")
        if not _is_int(input_tokens) or not _is_int(output_tokens):
            return None  # not a language model, or one that does not count (images, audio, ...)
        # Every later read of the finished prediction reports the same tokens: counted once, by its id.
        job = prediction.get("id")
        return Usage(
            input_tokens=input_tokens, output_tokens=output_tokens, job=job if isinstance(job, str) else ""
        )

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        # Replicate's output streams (`output`, `logs`, `error`, `done` events) carry no usage.
        return None

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if streamed:
            return "".join(_output_events(body))
        prediction = _json(body)
        return _output_text(prediction.get("output")) if isinstance(prediction, dict) else ""

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        return as_stored(facts, stored)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        return None  # a model's own `input`, whose fields each model names: none guardrails read

    def output_cap(self, route: Route, payload: Any) -> int | None:
        if "embed" in route.path:  # an embedding model's predictions (`OPERATIONS`)
            return NO_OUTPUT
        inputs = payload.get("input") if isinstance(payload, dict) else None
        return capped(inputs, INPUT_CAPS, choices=None)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        if "embed" in route.path:  # an embedding model's predictions (`OPERATIONS`)
            return NO_OUTPUT_FIELD
        return nested_cap_field(payload, ("input",), INPUT_CAPS)

    def price_model(self, model: str) -> str:
        return model  # `owner/name`, as price_overrides.json keys it

    def operation(self, route: Route) -> str:
        return operation_by_markers(route, OPERATIONS)

    def retry_delay(self, body: bytes) -> float | None:
        return None  # a refusal's wait comes in its headers

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        return False  # its 429s and 5xx may succeed when sent again

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        """The prediction's `model` (`owner/name`), for a request whose path names none (a get or a
        cancel of `predictions/{id}`, a create by bare `version` id): its price is that model's."""
        if _path_model(route) is not None:
            return None
        prediction = _json(body)
        model = prediction.get("model") if isinstance(prediction, dict) else None
        return model if isinstance(model, str) and "/" in model else None

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        """A prediction `starting` or `processing` (a create without `Prefer: wait`, or whose wait
        ran out; a read before it finished), read by its id: `GET predictions/{id}`. Only one that
        streams its output (`urls.stream`, there when the model streams: a language model's),
        since those are the predictions whose finished read reports tokens (an image model's
        reports none); never a training (`trainings`: its id names no prediction)."""
        if b'"starting"' not in body and b'"processing"' not in body:  # most answers: not parsed
            return None
        if not _of_predictions(route):
            return None
        prediction = _json(body)
        if not isinstance(prediction, dict) or prediction.get("status") not in RUNNING:
            return None
        job, urls = prediction.get("id"), prediction.get("urls")
        if not isinstance(job, str) or not job or not isinstance(urls, dict) or not urls.get("stream"):
            return None
        return RunningJob(job, Route(route.account, f"predictions/{quote(job, safe='')}"))


def api_path(route: Route) -> str:
    """The path under `/v1`: the route's, without the `v1/` the official clients add."""
    return route.path.removeprefix(SDK_PREFIX)


def _of_predictions(route: Route) -> bool:
    """A route of predictions: a create (`predictions`, `models/{owner}/{name}/predictions`,
    `deployments/{owner}/{name}/predictions`) or one prediction's (`predictions/{id}`)."""
    segments = api_path(route).split("/")
    return segments[0] == "predictions" or (
        len(segments) == 4 and segments[0] in _OWNED and segments[3] == "predictions"
    )


def _path_model(route: Route) -> str | None:
    segments = api_path(route).split("/")
    if len(segments) >= 3 and segments[0] in _OWNED:
        return unquote(f"{segments[1]}/{segments[2]}")
    return None


def _version_model(version: Any) -> str | None:
    """`owner/name:version_id` → `owner/name`; a bare version id stays as it is."""
    if not isinstance(version, str) or not version:
        return None
    return version.partition(":")[0] if "/" in version else version


def _json(body: bytes) -> Any:
    if not body:
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _output_text(output: Any) -> str:
    """Language models answer a string or a list of string pieces; other outputs are not text."""
    if isinstance(output, str):
        return output
    if isinstance(output, list) and all(isinstance(piece, str) for piece in output):
        return "".join(output)
    return ""


def _output_events(events: bytes) -> list[str]:
    """The data of each `output` event of a complete Replicate stream (data is text, not JSON)."""
    return [
        (event.data or b"").decode("utf-8", "replace")
        for event in iter_events(events)
        if event.name == b"output"
    ]


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


REPLICATE = Replicate()
