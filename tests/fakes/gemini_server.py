"""A fake Gemini upstream: a real HTTP server on loopback that speaks Google AI Studio's and Vertex
AI's wire format (https://ai.google.dev/api/generate-content).

    with FakeGemini().serve() as fake:
        client = genai.Client(api_key="k", http_options=HttpOptions(base_url=fake.base_url))

Both path styles are served: AI Studio's `/{version}/models/{model}:{method}` and Vertex AI's
`/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{model}:{method}`.
Methods: generateContent, streamGenerateContent (SSE with `?alt=sse`, else a JSON array sent piece
by piece), countTokens, and on AI Studio embedContent and batchEmbedContents.

Behaviour is chosen by the model in the path, or by an `x-fake-behavior` header that wins over it,
with FakeUpstream's vocabulary (tests/fakes/base.py):

    error-<status>     that status with Google's error JSON (400, 401, 403, 404, 429, 500, 503, …)
    rate-limited       429 RESOURCE_EXHAUSTED with QuotaFailure and RetryInfo details
    slow-<ms>          wait that long before answering (streams: before the headers)
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    send two chunks of a stream, then abort the TCP connection
    end-mid-stream     send two chunks of a stream (no finishReason yet), then end it cleanly
    gap-<ms>           wait that long between two chunks of a stream, so they arrive apart
    error-mid-stream   SSE streams: the first chunk, then Google's error object for an overload
                       (503 UNAVAILABLE, "The model is overloaded…") as an event, then the end
    no-usage           leave usageMetadata out of every response, streamed or not
    wrong-shape        `candidates` a count instead of a list, streamed or not

Answers are deterministic. The reply is "echo: <last user text>" (at most 64 words), cut to
`generationConfig.maxOutputTokens` words with finishReason MAX_TOKENS; when the request declares
functions and the last user text names one, the reply is a call of it instead (of each it names,
in the order declared, in one part list: Gemini's parallel calls). With
toolConfig.functionCallingConfig mode ANY the reply is always a call: of the function the text
names, else of the first of `allowedFunctionNames`, else of the last declared, its args filled in
from its parametersJsonSchema as the fake Anthropic fills a forced tool's input. As Gemini 2.x
does, models before gemini-3 answer 400 to functionDeclarations beside responseMimeType
application/json (Gemini 3 combines them). With responseMimeType application/json and a
responseJsonSchema, the reply is one text of JSON shaped by the schema, as that fill gives it. A token is a
whitespace-separated word: promptTokenCount = words in `contents` and `systemInstruction`, plus
CACHED_TOKENS when the request names a `cachedContent` (reported as cachedContentTokenCount);
candidatesTokenCount = words in the reply; models whose name contains "2.5" or "thinking" also
report THOUGHT_TOKENS thoughtsTokenCount. An inline audio part (`inlineData` of an audio/* type)
counts AUDIO_TOKENS, and a `cachedContent` whose name says "audio" holds CACHED_TOKENS of audio:
promptTokensDetails and cacheTokensDetails split the counts into TEXT and AUDIO. Response ids
count calls; Vertex's createTime is fixed.
As Gemini 3 does, models named gemini-3 (and later) sign their function calls (`thoughtSignature` on
the part) and answer 400 INVALID_ARGUMENT to a model turn whose first function call has none.
generationConfig.candidateCount n gives n candidates (`index` 0..n-1), each cut and finished on its
own: candidate k > 0 says "echo k: <text>", a word longer, so a maxOutputTokens can stop one and not
another; candidatesTokenCount counts them all. Streamed, the candidates take turns, one per chunk;
the last chunk carries the usage. generationConfig.responseLogprobs (and logprobs, the number of top
candidates) adds each candidate's `logprobsResult`, a chunk's own tokens' when streamed
(tests/fakes/gemini_logprobs.py); a logprobs outside [0, 20] is a 400 INVALID_ARGUMENT.
thinkingConfig.includeThoughts starts each candidate with a signed thought summary
(tests/fakes/gemini_thoughts.py).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_server import _tool_input
from tests.fakes.base import BEHAVIOR_HEADER, ECHO_WORDS, Behavior, FakeUpstream, sse_data, write_stream
from tests.fakes.gemini_logprobs import add_logprobs, invalid
from tests.fakes.gemini_thoughts import add_thoughts, thought_candidates, thought_summary
from tests.fakes.openai_server import _embedding
from tests.fakes.thinking_rules import gemini_refusal

CACHED_TOKENS = 1024
AUDIO_TOKENS = 960  # an inline audio part: 30 seconds, at Gemini's 32 tokens a second
THOUGHT_TOKENS = 12
EMBEDDING_DIMENSIONS = 768
CREATE_TIME = "2025-01-01T00:00:00.000000Z"
# An alias: answers name the version that answered (`modelVersion`), not the alias asked for.
ALIASES = {"gemini-flash-latest": "gemini-2.5-flash-preview-09-2025"}
JSON_TYPE = "application/json; charset=UTF-8"
# Google closes every SSE event with CRLF CRLF, not LF LF.
SSE_END = b"\r\n\r\n"

# HTTP status -> (google.rpc status, message); `{model}` and `{version}` are filled in.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: (
        "UNAUTHENTICATED",
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
        "or other valid authentication credential. See "
        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
    ),
    403: (
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use "
        "API Key or other form of API consumer identity to call this API.",
    ),
    404: (
        "NOT_FOUND",
        "models/{model} is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their supported "
        "methods.",
    ),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    ),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
}
QUOTA_METRIC = "generativelanguage.googleapis.com/generate_content_free_tier_requests"
VERTEX_429 = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)


@dataclass(frozen=True)
class Call:
    """One request as a handler needs it."""

    number: int
    version: str
    model: str
    method: str
    vertex: bool
    sse: bool
    body: dict[str, Any]
    behavior: Behavior


CALL = web.RequestKey("fake_gemini_call", Call)


class FakeGemini(FakeUpstream):
    """The fake upstream; a context manager that serves on loopback while open. Its `base_url` is
    the host root: both APIs put their version first in the path."""

    def __init__(self, *, api_key: str | None = None, access_token: str | None = None) -> None:
        """`api_key`, when set, is required on AI Studio paths as `x-goog-api-key` or `?key=`;
        `access_token`, when set, is required on Vertex paths as `Authorization: Bearer <token>`."""
        super().__init__(api_key=api_key)
        self.access_token = access_token

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/{version}/models/{target}", self._dispatch)
        vertex = "/{version}/projects/{project}/locations/{location}/publishers/{publisher}/models/{target}"
        app.router.add_post(vertex, self._dispatch)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record, reject what Google rejects, then act out the behaviour."""
        number, body = await self._record(request)
        info = request.match_info
        model, _, method = info.get("target", "").partition(":")
        vertex = "project" in info
        sse = request.query.get("alt") == "sse"
        wrap = method == "streamGenerateContent" and not sse  # errors there come as a one-element array
        if info.http_exception is not None:
            return _error(404, "NOT_FOUND", f"Invalid URL ({request.method} {request.path})", wrap)
        if (rejection := self._reject_credentials(request, vertex, wrap)) is not None:
            return rejection
        if not isinstance(body, dict):
            message = "Invalid JSON payload received. Unexpected token."
            return _error(400, "INVALID_ARGUMENT", message, wrap)
        behavior = Behavior.parse(request.headers.get(BEHAVIOR_HEADER, model))
        failure = await self.act_out(
            request,
            behavior,
            model,
            lambda status: _behavior_error(status, model, info["version"], vertex=vertex, wrap=wrap),
        )
        if failure is not None:
            return failure
        request[CALL] = Call(number, info["version"], model, method, vertex, sse, body, behavior)
        return await handler(request)

    def _reject_credentials(self, request: web.Request, vertex: bool, wrap: bool) -> web.Response | None:
        if vertex:
            if (
                self.access_token is None
                or request.headers.get("Authorization") == f"Bearer {self.access_token}"
            ):
                return None
            return _behavior_error(401, "", "", vertex=True, wrap=wrap)
        if self.api_key is None:
            return None
        key = request.headers.get("x-goog-api-key", request.query.get("key"))
        if key is None:
            return _behavior_error(403, "", "", vertex=False, wrap=wrap)
        if key != self.api_key:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
            message = "API key not valid. Please pass a valid API key."
            return _error(400, "INVALID_ARGUMENT", message, wrap, details)
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        unsigned = _unsigned_call(call) or _format_beside_functions(call) or _invalid_config(call)
        if unsigned is not None:
            return _error(400, "INVALID_ARGUMENT", unsigned, call.method == "streamGenerateContent")
        if call.method == "generateContent":
            replies, prompt = _replies(call.body), _prompt_tokens(call.body)
            candidates = [_candidate(call, reply, k, final=True) for k, reply in enumerate(replies)]
            add_thoughts(candidates, _summary(call), call.number)
            output = sum(reply.tokens for reply in replies)
            return _json(_answer(call, candidates, final=True, prompt=prompt, output=output))
        if call.method == "streamGenerateContent":
            return await _stream(request, call)
        if call.method == "countTokens":
            tokens = _prompt_tokens(call.body.get("generateContentRequest", call.body))
            details = _prompt_details(call.body.get("generateContentRequest", call.body), tokens)
            return _json({"totalTokens": tokens, "promptTokensDetails": details})
        if call.method == "embedContent" and not call.vertex:
            return _json({"embedding": _embed(call.body)})
        if call.method == "batchEmbedContents" and not call.vertex:
            return _json({"embeddings": [_embed(item) for item in call.body.get("requests") or ()]})
        wrap = call.method == "streamGenerateContent"
        return _error(404, "NOT_FOUND", f"Method not found: {call.method}", wrap)


@dataclass(frozen=True)
class Reply:
    """What the model says: text pieces (one word each, space-led after the first) or its calls
    (several in one turn, as Gemini makes parallel calls)."""

    pieces: list[str]
    finish: str
    function_calls: tuple[dict[str, Any], ...] = ()

    @property
    def tokens(self) -> int:
        return sum(len(json.dumps(call).split()) for call in self.function_calls) or len(self.pieces)


def _signs_calls(model: str) -> bool:
    """Gemini 3 and later sign function calls and refuse them back without the signature."""
    found = re.search(r"gemini-(\d+)", model)
    return found is not None and int(found.group(1)) >= 3


def _unsigned_call(call: Call) -> str | None:
    """Gemini 3's refusal of a model turn whose first function call has no thought signature."""
    if call.method not in ("generateContent", "streamGenerateContent") or not _signs_calls(call.model):
        return None
    for position, content in enumerate(call.body.get("contents") or ()):
        calls = [p for p in content.get("parts") or () if isinstance(p, dict) and "functionCall" in p]
        if content.get("role") == "model" and calls and not calls[0].get("thoughtSignature"):
            name = calls[0]["functionCall"].get("name")
            return (
                "Function call is missing a thought_signature in functionCall parts. This is required "
                f"for tools to work correctly. Additional data, function call `default_api:{name}` , "
                f"position {position + 1}. Please refer to "
                "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
            )
    return None


def _format_beside_functions(call: Call) -> str | None:
    """Gemini 2.x's refusal of function declarations beside a JSON response mime type."""
    mime = (call.body.get("generationConfig") or {}).get("responseMimeType")
    if _declarations(call.body) and mime == "application/json" and not _signs_calls(call.model):
        return "Function calling with a response mime type: 'application/json' is unsupported"
    return None


def _invalid_config(call: Call) -> str | None:
    """Google's 400 to a generationConfig.logprobs outside its documented range [0, 20]; the message
    is Google's generic one (the specific text is not documented)."""
    config = call.body.get("generationConfig") or {}
    if call.method in ("generateContent", "streamGenerateContent") and invalid(config):
        return ERRORS[400][1]
    if call.method in ("generateContent", "streamGenerateContent"):
        return gemini_refusal(call.model, config.get("thinkingConfig"))
    return None


def _replies(body: dict[str, Any]) -> list[Reply]:
    """One reply per candidate asked for (generationConfig.candidateCount, default 1)."""
    count = (body.get("generationConfig") or {}).get("candidateCount")
    return [_reply(body, k) for k in range(count if isinstance(count, int) and count > 0 else 1)]


def _reply(body: dict[str, Any], index: int = 0) -> Reply:
    """Candidate `index`'s reply: candidates after the first say "echo <index>:", a word longer."""
    text = _last_user_text(body.get("contents"))
    declarations = _declarations(body)
    named = [d["name"] for d in declarations if d.get("name") and d["name"] in text.split()]
    if named:  # each function the text names, in the order declared
        return Reply([], "STOP", tuple({"name": name, "args": {"query": text}} for name in named))
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("mode") == "ANY" and declarations:
        allowed = calling.get("allowedFunctionNames") or ()
        named = [d for d in declarations if d.get("name") in allowed] or declarations[-1:]
        args = _tool_input(named[0].get("parametersJsonSchema"), text)
        return Reply([], "STOP", ({"name": named[0].get("name"), "args": args},))
    config = body.get("generationConfig") or {}
    if config.get("responseMimeType") == "application/json" and "responseJsonSchema" in config:
        return Reply([json.dumps(_tool_input(config["responseJsonSchema"], text))], "STOP")
    words = ((f"echo {index}: " if index else "echo: ") + text).split()[:ECHO_WORDS]
    limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
    finish = "STOP"
    if isinstance(limit, int) and 0 < limit < len(words):
        words, finish = words[:limit], "MAX_TOKENS"
    return Reply([words[0], *(" " + word for word in words[1:])], finish)


def _candidate(
    call: Call, reply: Reply, index: int, *, final: bool, pieces: Sequence[str] = (), step: int = 0
) -> dict[str, Any]:
    """Candidate `index`: the whole reply, or (streaming) `pieces` of it from its token `step` on;
    `final`: the candidate's last chunk, with its finish reason."""
    tokens: Sequence[str] = ()
    if reply.function_calls:
        parts: list[dict[str, Any]] = [{"functionCall": call} for call in reply.function_calls]
        if _signs_calls(call.model):
            signature = base64.b64encode(f"fake-thought-{call.number:06d}".encode()).decode()
            parts[0]["thoughtSignature"] = signature
    else:
        tokens = pieces or reply.pieces
        parts = [{"text": "".join(tokens)}]
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if final:
        candidate["finishReason"] = reply.finish
    candidate["index"] = index
    add_logprobs(candidate, call.body.get("generationConfig") or {}, tokens, index, step, whole=not pieces)
    return candidate


def _summary(call: Call) -> str | None:
    return thought_summary(call.body, _last_user_text(call.body.get("contents")))


def _answer(
    call: Call, candidates: list[dict[str, Any]], *, final: bool, prompt: int, output: int
) -> dict[str, Any]:
    """One GenerateContentResponse; `final`: the last of a stream (or the whole answer), whose usage
    counts the `output` tokens of every candidate."""
    answer: dict[str, Any] = {"candidates": 1 if call.behavior.wrong_shape else candidates}
    if not call.behavior.no_usage:
        answer["usageMetadata"] = _usage(call, output, prompt, final)
    answer["modelVersion"] = ALIASES.get(call.model, call.model)
    if call.vertex:
        answer["createTime"] = CREATE_TIME
    answer["responseId"] = f"fakeResponse{call.number:06d}"
    return answer


def _usage(call: Call, tokens: int, prompt: int, final: bool) -> dict[str, Any]:
    if call.vertex and not final:
        return {"trafficType": "ON_DEMAND"}  # Vertex counts only in the last chunk
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    output = tokens if final else 0
    if output:
        usage["candidatesTokenCount"] = output
    thoughts = THOUGHT_TOKENS if final and ("2.5" in call.model or "thinking" in call.model) else 0
    usage["totalTokenCount"] = prompt + output + thoughts
    if call.body.get("cachedContent"):
        usage["cachedContentTokenCount"] = CACHED_TOKENS
    usage["promptTokensDetails"] = _prompt_details(call.body, prompt)
    if call.body.get("cachedContent"):
        modality = "AUDIO" if _audio_cache(call.body) else "TEXT"
        usage["cacheTokensDetails"] = [{"modality": modality, "tokenCount": CACHED_TOKENS}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if call.vertex:
        usage["trafficType"] = "ON_DEMAND"
    return usage


async def _stream(request: web.Request, call: Call) -> web.StreamResponse:
    """Each chunk is written on its own, so a client sees them arrive one by one. Several candidates
    take turns, a chunk each (one candidate per chunk, named by its index)."""
    replies, prompt = _replies(call.body), _prompt_tokens(call.body)
    output = sum(reply.tokens for reply in replies)
    steps = [[[piece] for piece in reply.pieces] or [[]] for reply in replies]  # a call comes whole
    turns = [
        (k, step)
        for step in range(max(len(pieces) for pieces in steps))
        for k, pieces in enumerate(steps)
        if step < len(pieces)
    ]
    thoughts = thought_candidates(_summary(call), call.number, len(replies))
    chunks = [_answer(call, [thought], final=False, prompt=prompt, output=0) for thought in thoughts]
    for n, (k, step) in enumerate(turns):
        last = step == len(steps[k]) - 1
        candidate = _candidate(call, replies[k], k, final=last, pieces=steps[k][step], step=step)
        chunks.append(_answer(call, [candidate], final=n == len(turns) - 1, prompt=prompt, output=output))
    if call.sse:
        encoded = [sse_data(chunk, separators=(",", ": "), end=SSE_END) for chunk in chunks]
        headers = {"Content-Type": "text/event-stream", "Content-Disposition": "attachment"}
    else:
        pretty = [json.dumps(chunk, indent=2).encode() for chunk in chunks]
        encoded = [b"[" + pretty[0], *(b"\n,\r\n" + piece for piece in pretty[1:]), b"\n]"]
        headers = {"Content-Type": JSON_TYPE}
    if call.behavior.error_mid_stream and call.sse:
        status, message = ERRORS[503]
        error = {"error": {"code": 503, "message": message, "status": status}}
        encoded = [encoded[0], sse_data(error, separators=(",", ": "), end=SSE_END)]
    drop_at = 2 if call.behavior.drop_mid_stream else None
    end_at = 2 if call.behavior.end_mid_stream else None
    gap = call.behavior.gap_ms / 1000
    return await write_stream(request, encoded, headers, drop_at=drop_at, end_at=end_at, gap=gap)


def _json(document: Any, status: int = 200) -> web.Response:
    # Google pretty-prints its JSON answers.
    body = json.dumps(document, indent=2).encode() + b"\n"
    return web.Response(body=body, status=status, headers={"Content-Type": JSON_TYPE})


def _error(
    status: int, code: str, message: str, wrap: bool, details: list[dict[str, Any]] | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if details:
        error["details"] = details
    document: Any = {"error": error}
    return _json([document] if wrap else document, status)


def _behavior_error(status: int, model: str, version: str, *, vertex: bool, wrap: bool) -> web.Response:
    default = ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", f"Fake upstream error {status}.")
    code, message = ERRORS.get(status, default)
    if status == 429 and vertex:
        return _error(status, code, VERTEX_429, wrap)
    details: list[dict[str, Any]] | None = None
    if status == 429:
        details = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": QUOTA_METRIC,
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": "15",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"},
        ]
    return _error(status, code, message.format(model=model, version=version), wrap, details)


def _texts(value: Any) -> list[str]:
    """The text parts of a Content, or of a list of them."""
    contents = value if isinstance(value, list) else [value]
    return [
        part["text"]
        for content in contents
        if isinstance(content, dict)
        for part in content.get("parts") or ()
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]


def _last_user_text(contents: Any) -> str:
    users = [
        c for c in contents or () if isinstance(c, dict) and c.get("role", "user") == "user" and _texts(c)
    ]
    return " ".join(_texts(users[-1])) if users else ""


def _prompt_tokens(body: Any) -> int:
    if not isinstance(body, dict):
        return 0
    texts = _texts(body.get("contents")) + _texts(body.get("systemInstruction"))
    cached = CACHED_TOKENS if body.get("cachedContent") else 0
    return sum(len(text.split()) for text in texts) + cached + _audio_tokens(body)


def _audio_tokens(body: dict[str, Any]) -> int:
    contents = body.get("contents")
    return AUDIO_TOKENS * sum(
        1
        for content in (contents if isinstance(contents, list) else ())
        if isinstance(content, dict)
        for part in content.get("parts") or ()
        if isinstance(part, dict) and _media_type(part.get("inlineData")).startswith("audio/")
    )


def _media_type(blob: Any) -> str:
    """A Blob's type: google-genai sends `mime_type` (protobuf's JSON takes either spelling)."""
    blob = blob if isinstance(blob, dict) else {}
    return str(blob.get("mimeType", blob.get("mime_type", "")))


def _audio_cache(body: dict[str, Any]) -> bool:
    return "audio" in str(body.get("cachedContent") or "")


def _prompt_details(body: Any, prompt: int) -> list[dict[str, Any]]:
    """promptTokensDetails: the `prompt` tokens by modality, TEXT and (when there is some) AUDIO."""
    audio = 0
    if isinstance(body, dict):
        audio = _audio_tokens(body) + (CACHED_TOKENS if _audio_cache(body) else 0)
    details = [{"modality": "TEXT", "tokenCount": prompt - audio}]
    return [*details, {"modality": "AUDIO", "tokenCount": audio}] if audio else details


def _declarations(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        declaration
        for tool in body.get("tools") or ()
        if isinstance(tool, dict)
        for declaration in tool.get("functionDeclarations") or ()
        if isinstance(declaration, dict)
    ]


def _embed(body: Any) -> dict[str, Any]:
    content = body.get("content") if isinstance(body, dict) else None
    words = " ".join(_texts(content)).lower().split()
    dimensions = body.get("outputDimensionality") if isinstance(body, dict) else None
    return {"values": _embedding(words, dimensions if isinstance(dimensions, int) else EMBEDDING_DIMENSIONS)}
