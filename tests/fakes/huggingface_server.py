"""A fake Hugging Face upstream: a real HTTP server on loopback standing in for router.huggingface.co.

    with FakeHuggingFace().serve() as fake:
        InferenceClient(model=fake.model_url("bigcode/starcoder")).text_generation("def f(")

It serves text generation at `/hf-inference/models/{model}` in the format of text-generation-inference
(https://huggingface.github.io/text-generation-inference/), and chat completions, OpenAI's format, at
the router's `/v1/chat/completions`, at `/hf-inference/models/{model}/v1/chat/completions` and at
an inference provider's `/{provider}/…/chat/completions` (FakeOpenAI's handler). It shares
FakeOpenAI's machinery and behaviour vocabulary, chosen by the model's last path segment
(`fake/rate-limited`) or the `x-fake-behavior` header. Text-generation errors carry TGI's
`{"error", "error_type"}` (a loading model: `{"error", "estimated_time"}`); chat errors OpenAI's
shape, as the router is OpenAI-compatible.

    error-<status>     that status with the error body above (400, 401, 404, 422, 429, 500, 503, …)
    rate-limited       429, TGI's `overloaded`
    slow-<ms>          wait that long before answering
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    send two tokens, then abort the TCP connection
    no-usage           streams end without `details` even when `parameters.details` asked for them
    pause-stream       as FakeOpenAI: wait for `release(name)` after the first token

Image classification is served for the models in `IMAGE_CLASSIFIERS` (a ViT): `inputs`, a PNG or a
JPEG in base64 (what huggingface_hub sends when parameters come with the image), answers
`[{"label", "score"}]`, cut at `parameters.top_k` (default 5), with no usage, as HF Inference does;
anything else there is a 400.

Text generation is deterministic: "echo: <inputs>" (at most 64 words), cut at
`parameters.max_new_tokens` words (default 20; finish_reason "length"), else ended by the `</s>`
token (special, "eos_token"). A token is a word; the prompt is `<s>` plus its words. `details` come
only when `parameters.details` is true, `prefill` only with `decoder_input_details`, as TGI does;
`return_full_text` prepends the inputs. Streams send `data:{...}` (no space, as TGI) per token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.fakes.base import BEHAVIOR_HEADER, CALL, ECHO_WORDS, NUMBER, Behavior
from tests.fakes.openai_server import FakeOpenAI

MODELS_PREFIX = "/hf-inference/models"
DEFAULT_MODELS = ("bigcode/starcoder", "meta-llama/Llama-3.1-8B-Instruct")
DEFAULT_MAX_NEW_TOKENS = 20
IMAGE_CLASSIFIERS = frozenset({"google/vit-base-patch16-224"})
LABELS = (
    ("Egyptian cat", 0.52),
    ("tabby, tabby cat", 0.21),
    ("tiger cat", 0.14),
    ("lynx", 0.05),
    ("fox", 0.01),
)
VOCABULARY = 32_000
LOGPROB = -0.5
BOS = {"id": 1, "text": "<s>", "logprob": None}
EOS = {"id": 2, "text": "</s>", "logprob": -0.01, "special": True}

# Text generation: status -> (error, error_type); None: the Inference API's plain `{"error"}`.
ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("Input validation error: `inputs` must not be empty", "validation"),
    401: ("Invalid credentials in Authorization header", None),
    404: ("Model {model} does not exist", None),
    422: ("Input validation error: `temperature` must be strictly positive", "validation"),
    424: ("Request failed during generation: Server error: CUDA out of memory", "generation"),
    429: ("Model is overloaded", "overloaded"),
    500: ("Request failed during generation: Server error: unexpected end of stream", "generation"),
}
# Chat (OpenAI-compatible): status -> (type, message)
CHAT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request to model '{model}'."),
    401: ("authentication_error", "Invalid credentials in Authorization header"),
    404: ("invalid_request_error", "The requested model '{model}' does not exist."),
    429: ("rate_limit_error", "You have exceeded your monthly included credits for Inference Providers."),
}


class FakeHuggingFace(FakeOpenAI):
    """The fake upstream; a context manager that serves on loopback while open."""

    CHAT_HISTORY_RULES = False

    def __init__(self, *, models: Sequence[str] = DEFAULT_MODELS, api_key: str | None = None) -> None:
        """`api_key`, when set, is required as `Authorization: Bearer <key>` (else 401)."""
        super().__init__(models=models, api_key=api_key)

    @property
    def base_url(self) -> str:
        return self.server.url  # stands in for https://router.huggingface.co

    def model_url(self, model: str) -> str:
        return f"{self.url}{MODELS_PREFIX}/{model}"

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v1/chat/completions", self._chat)
        # More specific first: a model's own chat endpoint, then the model itself.
        app.router.add_post(MODELS_PREFIX + "/{model:.+}/v1/chat/completions", self._chat)
        app.router.add_post(MODELS_PREFIX + "/{model:.+}", self._generate)
        # An inference provider's chat under its segment: `/together/v1/chat/completions`,
        # `/novita/v3/openai/chat/completions` (OpenAI's format, the model in the body).
        app.router.add_post("/{provider:[a-z-]+}/{route:.+}/chat/completions", self._chat)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record, reject what Hugging Face rejects, then act out the behaviour."""
        number, body = await self._record(request)
        request[NUMBER] = number
        chat = request.path.endswith("/chat/completions")
        if request.match_info.http_exception is not None:
            return web.json_response({"error": "Not Found"}, status=404)
        path_model = request.match_info.get("model")
        model = unquote(path_model) if path_model else ""
        if isinstance(body, dict) and not model:
            model = str(body.get("model", ""))
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _behavior_error(401, model, chat)
        if not isinstance(body, dict):
            return _behavior_error(400, model, chat)
        spec = request.headers.get(BEHAVIOR_HEADER, model.rsplit("/", 1)[-1].partition(":")[0])
        behavior = Behavior.parse(spec)
        failure = await self.act_out(
            request, behavior, model, lambda status: _behavior_error(status, model, chat)
        )
        if failure is not None:
            return failure
        # TGI serves one model whatever the body names; FakeOpenAI's chat echoes `model` back.
        request[CALL] = self.call_of(request, number, {**body, "model": body.get("model") or model}, behavior)
        return await handler(request)

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        inputs = call.body.get("inputs")
        parameters = call.body.get("parameters") or {}
        if call.body["model"] in IMAGE_CLASSIFIERS:
            return _classify(inputs, parameters, call.body["model"])
        if not isinstance(inputs, str) or not inputs:
            return _behavior_error(400, call.body["model"], chat=False)
        pieces, finish = _reply(inputs, parameters.get("max_new_tokens"))
        tokens = [_token(piece) for piece in pieces] + ([EOS] if finish == "eos_token" else [])
        text = "".join(pieces)
        prompt = [BOS, *({**_token(word), "logprob": LOGPROB} for word in inputs.split())]
        details = {"finish_reason": finish, "generated_tokens": len(tokens), "seed": None}
        if not (call.body.get("stream") or parameters.get("stream")):
            generated = (inputs + text) if parameters.get("return_full_text") else text
            answer: dict[str, Any] = {"generated_text": generated}
            if parameters.get("details"):
                prefill = prompt if parameters.get("decoder_input_details") else []
                answer["details"] = {**details, "prefill": prefill, "tokens": tokens}
            return web.json_response([answer])
        with_details = parameters.get("details") and not call.behavior.no_usage
        last = {**details, "input_length": len(prompt)} if with_details else None
        events = [
            _data(
                {
                    "index": index + 1,
                    "token": token,
                    "generated_text": text if index == len(tokens) - 1 else None,
                    "details": last if index == len(tokens) - 1 else None,
                }
            )
            for index, token in enumerate(tokens)
        ]
        return await self._stream(request, call, events, first_content=0)


def _behavior_error(status: int, model: str, chat: bool) -> web.Response:
    if chat:
        type_, message = CHAT_ERRORS.get(status, ("server_error", f"Fake upstream error {status}."))
        error = {"message": message.format(model=model), "type": type_, "param": None, "code": None}
        return web.json_response({"error": error}, status=status)
    if status == 503:  # a cold model: https://huggingface.co/docs/api-inference/en/parameters
        return web.json_response(
            {"error": f"Model {model} is currently loading", "estimated_time": 20.0}, status=503
        )
    message, error_type = ERRORS.get(status, (f"Fake upstream error {status}.", None))
    body: dict[str, Any] = {"error": message.format(model=model)}
    if error_type is not None:
        body["error_type"] = error_type
    return web.json_response(body, status=status)


def _classify(inputs: Any, parameters: dict[str, Any], model: str) -> web.Response:
    """An image classification's answer: labels and scores, no usage."""
    try:
        image = base64.b64decode(inputs, validate=True) if isinstance(inputs, str) else b""
    except binascii.Error:
        image = b""
    if not image.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8")):
        return _behavior_error(400, model, chat=False)
    top_k = parameters.get("top_k")
    labels = LABELS[: top_k if isinstance(top_k, int) and top_k > 0 else len(LABELS)]
    return web.json_response([{"label": label, "score": score} for label, score in labels])


def _data(payload: dict[str, Any]) -> bytes:
    # TGI writes `data:` with no space after the colon, unlike base.sse_data.
    return b"data:" + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def _reply(text: str, limit: Any) -> tuple[list[str], str]:
    """The reply as tokens (one word each, space-led after the first) and a finish_reason."""
    words = ("echo: " + text).split()[:ECHO_WORDS]
    limit = limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_NEW_TOKENS
    finish = "length" if len(words) > limit else "eos_token"
    words = words[:limit]
    return [words[0], *(" " + word for word in words[1:])], finish


def _token(text: str) -> dict[str, Any]:
    digest = hashlib.sha256(text.encode()).digest()
    token_id = 3 + int.from_bytes(digest[:4], "little") % (VOCABULARY - 3)
    return {"id": token_id, "text": text, "logprob": LOGPROB, "special": False}
