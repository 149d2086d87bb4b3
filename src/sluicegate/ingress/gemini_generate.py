"""Google's Gemini API in, OpenAI chat to the providers, Gemini's shapes back.

`POST …/compat/v1beta/models/{model}:generateContent`, `:streamGenerateContent` (`?alt=sse`) and
`:countTokens`, where the official `google-genai` SDK sends them with
`http_options={"base_url": "…/compat"}`: the model is the compat endpoint's
(`openai/gpt-4o-mini`, `dynamic/<route>`), named in the path as the SDK writes it, its slashes
as they are (`models/openai/gpt-4o-mini:generateContent`) or percent-encoded. The method says
whether the answer streams; a request body names no model. The request is the chat request it
means (gemini_request.py), the answer and its stream a GenerateContentResponse (gemini_stream.py),
errors Google's `{"error": {"code", "message", "status"}}` (providers/gemini/errors.py), which
google-genai raises as `APIError`. A model of Google AI Studio (`google-ai-studio/…`), and a
route's target of it, gets the request as it came (`Native`), at the model's own path.

The SDK sends its key in `x-goog-api-key`, REST clients and older SDKs as `?key=`: either is a chat
client's `Authorization` for the providers of chat. The rest of the query (`alt=sse`) is Google's:
a request translated through chat sends none of it (pipeline/compat.py), an untranslated one all.
Gemini's answers carry no request id; a translated answer's upstream id goes under
`x-request-id`. countTokens for another provider is counted by the gateway (`{"totalTokens"}`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote

import orjson
from multidict import CIMultiDict

from sluicegate.compat.request_ids import OPENAI_REQUEST_ID
from sluicegate.ingress.base import Native, new_id
from sluicegate.ingress.gemini_config import shows_thoughts
from sluicegate.ingress.gemini_request import chat_request
from sluicegate.ingress.gemini_stream import GeminiStream, gemini_response
from sluicegate.providers.gemini.errors import GOOGLE_ERRORS
from sluicegate.providers.gemini.texts import GEMINI_TEXTS
from sluicegate.providers.google_ai_studio import GOOGLE_AI_STUDIO
from sluicegate.providers.texts import TextFormat
from sluicegate.types import Usage

# The API versions google-genai speaks (v1beta its default; `api_version` picks another).
_VERSIONS: Final = frozenset({"v1beta", "v1", "v1alpha"})
GENERATE, STREAM, COUNT = "generateContent", "streamGenerateContent", "countTokens"
# As a 404 lists them: v1beta (the SDK's default) and v1 (v1alpha is served too).
GEMINI_PATHS: Final = tuple(
    f"{version}/models/{{model}}:{method}"
    for version in ("v1beta", "v1")
    for method in (GENERATE, STREAM, COUNT)
)
_KEY_HEADER: Final = "x-goog-api-key"
_KEY_PARAM: Final = "key"  # https://ai.google.dev/gemini-api/docs/api-key


@dataclass(frozen=True, slots=True)
class GeminiGenerate:
    """One call of `path_model`'s `method`: the format is made per request, from its path
    (`gemini_format`). `ids`: the random part of the `responseId` of each answer it renders."""

    path_model: str
    method: str
    native: Native
    ids: Callable[[], str] = new_id
    text_format: TextFormat = GEMINI_TEXTS
    item_references: None = None  # a request sends its whole conversation
    openai_errors: bool = False  # a google.rpc.Status names no field the way `param` does
    says_wait: bool = True  # its errors are Google's (GOOGLE_ERRORS): RetryInfo's retryDelay
    request_id_header: str = OPENAI_REQUEST_ID

    @property
    def name(self) -> str:
        return "gemini-count-tokens" if self.counts else "gemini-generate-content"

    @property
    def counts(self) -> bool:
        return self.method == COUNT

    def hub_headers(self, headers: CIMultiDict[str], query: str = "") -> CIMultiDict[str]:
        hub = CIMultiDict((k, v) for k, v in headers.items() if not k.lower().startswith("x-goog-"))
        key = headers.getall(_KEY_HEADER, []) or _query_keys(query)
        if key and "authorization" not in hub:
            hub["Authorization"] = f"Bearer {key[0]}"
        return hub

    def to_chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        return chat_request(payload, payload.get("model"), self.method == STREAM, self.counts)

    def count_answer(self, tokens: int) -> bytes:
        # https://ai.google.dev/api/tokens#CountTokensResponse
        return orjson.dumps({"totalTokens": tokens})

    def answer(self, asked: Mapping[str, Any], body: bytes) -> bytes:
        if self.counts:  # the gateway counted the tokens itself: already Gemini's answer
            return body
        completion = orjson.loads(body)
        model = str(asked.get("model") or self.path_model)
        return orjson.dumps(gemini_response(completion, model, self.ids(), shows_thoughts(asked)))

    def stream(self, asked: Mapping[str, Any], usage: Usage | None = None) -> GeminiStream:
        model = str(asked.get("model") or self.path_model)
        return GeminiStream(self.ids(), model, shows_thoughts(asked), usage)

    def error(self, status: int, body: bytes) -> bytes:
        return GOOGLE_ERRORS.error(status, body)


def _query_keys(query: str) -> list[str]:
    """The keys in `query` (`?key=`, as REST clients and Google's curl examples send it), decoded."""
    return [value for name, value in parse_qsl(query) if name.strip().lower() == _KEY_PARAM and value.strip()]


def gemini_format(tail: str) -> GeminiGenerate | None:
    """The format of a compat path `{version}/models/{model}:{method}` (`tail`, as sent: its model
    may be percent-encoded), else None."""
    version, _, rest = tail.partition("/")
    if version not in _VERSIONS or not rest.startswith("models/"):
        return None
    model, colon, method = unquote(rest.removeprefix("models/")).rpartition(":")
    if not colon or not model or method not in (GENERATE, STREAM, COUNT):
        return None
    path = f"{version}/models/{{model}}:{method}"
    native = Native(GOOGLE_AI_STUDIO, path.replace("{model}", quote(model, safe="")), model_path=path)
    return GeminiGenerate(model, method, native)
