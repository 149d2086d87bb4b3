"""Google Vertex AI: the Gemini API on Google Cloud, served from the host of each location.

API reference: https://cloud.google.com/vertex-ai/docs/reference/rest — paths such as
`v1/projects/{project}/locations/{location}/publishers/google/models/{model}:generateContent` are
forwarded as sent, with the client's `Authorization: Bearer` token. Cloudflare AI Gateway's endpoint
is the same path under `.../{gateway}/google-vertex-ai/`:
https://developers.cloudflare.com/ai-gateway/usage/providers/vertex/

Claude on Vertex AI (`.../publishers/anthropic/models/{model}:rawPredict`, `:streamRawPredict`)
answers in Anthropic's Messages format, usage and stream events included:
https://docs.anthropic.com/en/api/claude-on-vertex-ai — so its answers are read as Anthropic's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from sluicegate.providers.anthropic.adapter import ANTHROPIC, searches_allowed
from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS, MESSAGES_TOKEN_KEYS
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.providers.gemini.adapter import ANSWER_METHODS, GeminiAPI, Target, stream_rule
from sluicegate.providers.gemini.conversation import GEMINI_CONTENTS
from sluicegate.providers.gemini.texts import GEMINI_TOKEN_KEYS
from sluicegate.providers.openai_conversation import CHAT_MESSAGES
from sluicegate.providers.openai_texts import CHAT_TEXTS, CHAT_TOKEN_KEYS
from sluicegate.providers.output_caps import NO_OUTPUT, NO_OUTPUT_FIELD, CapField
from sluicegate.providers.stream_ends import StreamEnds
from sluicegate.providers.texts import TextFormat, has_list
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

GLOBAL_ENDPOINT = "https://aiplatform.googleapis.com"
# Multi-region locations have hosts of their own (as google-genai's client builds them):
# https://cloud.google.com/vertex-ai/generative-ai/docs/learn/locations
_MULTI_REGIONS = frozenset({"us", "eu"})
# A location only ever becomes part of a host name when it looks like one (`us-central1`).
_LOCATION = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_LOCATION_IN_PATH = re.compile(r"(?:^|/)locations/([^/:?]+)")
_ANTHROPIC_MODELS = re.compile(r"(?:^|/)publishers/anthropic/models/", re.IGNORECASE)
# https://docs.anthropic.com/en/docs/build-with-claude/token-counting (Vertex AI: `count-tokens:rawPredict`)
_CLAUDE_TOKEN_COUNTING = "count-tokens"


@dataclass(frozen=True, slots=True)
class VertexAI(GeminiAPI):
    """Vertex AI: the default base URL stands for "the host of the location in the path"; any other
    configured base URL (a proxy, a fake) receives every path as it is."""

    def upstream_url(self, base_url: str, route: Route) -> str:
        if base_url.rstrip("/") == self.default_base_url:
            base_url = location_endpoint(route.path)
        # Named, not super(): a slots dataclass is rebuilt, which breaks zero-argument super().
        return GeminiAPI.upstream_url(self, base_url, route)

    def compat_target(self) -> CompatTarget | None:
        return None  # the unified endpoint does not translate to Vertex AI

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        facts = GeminiAPI.read_request(self, route, body)
        searches = searches_allowed(facts.payload) if _serves_claude(route) else 0
        return replace(facts, searches=searches) if searches else facts  # Claude's web search tool

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if _serves_claude(route):
            if Target.of(route).model == _CLAUDE_TOKEN_COUNTING:
                return Usage()  # free, as on Anthropic's own API
            return ANTHROPIC.read_usage(route, body)
        return GeminiAPI.read_usage(self, route, body)

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        if _serves_claude(route):
            return ANTHROPIC.read_stream_usage(route, events)
        return GeminiAPI.read_stream_usage(self, route, events)

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if _serves_claude(route):
            return ANTHROPIC.output_text(route, body, streamed)
        return GeminiAPI.output_text(self, route, body, streamed)

    def output_cap(self, route: Route, payload: Any) -> int | None:
        if Target.of(route).model == _CLAUDE_TOKEN_COUNTING and _serves_claude(route):
            return NO_OUTPUT  # free, as on Anthropic's own API
        return GeminiAPI.output_cap(self, route, payload)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        if Target.of(route).model == _CLAUDE_TOKEN_COUNTING and _serves_claude(route):
            return NO_OUTPUT_FIELD
        return GeminiAPI.cap_field(self, route, payload)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        if Target.of(route).method not in ANSWER_METHODS and has_list(payload, "messages"):
            # Partner models' `rawPredict`: Claude takes Anthropic's Messages body and answers in
            # its shape, streams included; the others (Mistral, Llama) OpenAI chat's.
            return MESSAGES_TEXTS if _serves_claude(route) else CHAT_TEXTS
        return GeminiAPI.text_format(self, route, payload)


def _serves_claude(route: Route) -> bool:
    return _ANTHROPIC_MODELS.search(unquote(route.path)) is not None


def location_endpoint(path: str) -> str:
    """The Vertex AI endpoint that serves the location named in `path`; the global one when the path
    names none (express mode: `v1/publishers/google/models/...`) or one that is not a location."""
    found = _LOCATION_IN_PATH.search(path)
    location = found.group(1) if found else "global"
    if location == "global" or not _LOCATION.fullmatch(location):
        return GLOBAL_ENDPOINT
    if location in _MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


GOOGLE_VERTEX_AI = VertexAI(
    name="google-vertex-ai",
    default_base_url=GLOBAL_ENDPOINT,
    # Regional hosts only (`us-central1-aiplatform.googleapis.com`), with the client's bearer token.
    hosts=re.compile(r"[a-z0-9-]{1,40}-aiplatform\.googleapis\.com"),
    # Claude's streams end with message_stop; Gemini's and partner models' by their format's rule.
    stream_ends=StreamEnds(complete=ANTHROPIC.stream_ends.complete, marked=_serves_claude, rules=stream_rule),
    conversations=(CHAT_MESSAGES, GEMINI_CONTENTS),  # Claude's bodies are Anthropic's `messages`
    token_keys=GEMINI_TOKEN_KEYS | CHAT_TOKEN_KEYS | MESSAGES_TOKEN_KEYS,  # partner models' `rawPredict`
)
