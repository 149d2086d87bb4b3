"""A fake Replicate upstream: a real HTTP server on loopback standing in for api.replicate.com.

    with FakeReplicate().serve() as fake:
        replicate.Client(api_token="r8_test", base_url=fake.url).run("meta/meta-llama-3-8b-instruct", ...)

It serves predictions (https://replicate.com/docs/reference/http#predictions.create): create
(`POST /v1/predictions`, `/v1/models/{owner}/{name}/predictions`,
`/v1/deployments/{owner}/{name}/predictions`), get and cancel, and each prediction's output stream
at `/streams/{id}` — the stand-in for stream.replicate.com, another host in the real API
(https://replicate.com/docs/topics/predictions/streaming). It is built on FakeUpstream (recording,
`clear()`, chunk-per-event streaming) and shares its behaviour vocabulary, chosen by the model's name
(`fake/rate-limited`) or the `x-fake-behavior` header. Errors are Replicate's problem details,
`{"title", "detail", "status"}`.

    error-<status>     that status with Replicate's problem details (401, 402, 404, 422, 429, 500, …)
    rate-limited       429 "Request was throttled" with Retry-After
    slow-<ms>          wait that long before answering
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    the output stream sends two pieces, then aborts the TCP connection
    no-usage           finished predictions report `predict_time` only, no token counts
    pause-stream       as FakeUpstream's, on the output stream

A prediction created with `Prefer: wait` answers finished ("succeeded"); without it, "starting",
and the next `GET` finds it finished (with `polls=n`: "processing" until the n-th `GET`). Output
is "echo: <input.prompt>" as a list of word pieces (at most 64 words, cut at `max_tokens` or
`max_new_tokens`). A token is a word: input_token_count =
words of `prompt` and `system_prompt`; output_token_count = pieces. Ids and timestamps are fixed by
call number, so `clear()` makes a direct and a proxied answer identical.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web

from tests.fakes.base import BEHAVIOR_HEADER, CALL, ECHO_WORDS, NUMBER, Behavior, FakeUpstream

DEFAULT_MODELS = ("meta/meta-llama-3-8b-instruct", "meta/meta-llama-3-70b-instruct")
CREATED_AT = "2024-07-01T10:00:00.000000Z"
COMPLETED_AT = "2024-07-01T10:00:01.250000Z"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
PROBLEM_JSON = "application/problem+json"

# https://replicate.com/docs/reference/http — status -> (title, detail)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request body is not valid JSON."),
    401: ("Unauthenticated", "You did not pass a valid authentication token"),
    402: (
        "Insufficient credit",
        "You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing "
        "to purchase credit. Once you purchase credit, please wait a few minutes before trying again.",
    ),
    404: ("Not found", "The requested resource could not be found."),
    422: ("Input validation failed", "- input: prompt is required\n"),
    429: ("Request was throttled", "Request was throttled. Expected available in 1 second."),
    500: ("Internal server error", "An unexpected error occurred."),
}


class FakeReplicate(FakeUpstream):
    """The fake upstream; a context manager that serves on loopback while open."""

    def __init__(
        self, *, models: Sequence[str] = DEFAULT_MODELS, api_key: str | None = None, polls: int = 1
    ) -> None:
        """`api_key`, when set, is required as `Authorization: Bearer <key>` or `Token <key>`.
        `polls`: the GET that finds a prediction finished; the ones before find it "processing"."""
        super().__init__(api_key=api_key)
        self.models = tuple(models)
        self.polls = polls
        self._predictions_lock = threading.Lock()
        self._predictions: dict[str, dict[str, Any]] = {}

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def clear(self) -> None:
        """As every fake's, and forget every prediction."""
        super().clear()
        with self._predictions_lock:
            self._predictions.clear()

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v1/predictions", self._create)
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create)
        app.router.add_post("/v1/deployments/{owner}/{name}/predictions", self._create)
        app.router.add_get("/v1/predictions/{id}", self._get)
        app.router.add_post("/v1/predictions/{id}/cancel", self._cancel)
        app.router.add_get("/streams/{id}", self._output_stream)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record, reject what Replicate rejects, then act out the behaviour."""
        number, body = await self._record(request)
        request[NUMBER] = number
        if request.match_info.http_exception is not None:
            return _problem(404)
        if self.api_key is not None and request.headers.get("Authorization") not in (
            f"Bearer {self.api_key}",
            f"Token {self.api_key}",
        ):
            return _problem(401)
        model = self._model_of(request, body)
        if model is None:
            return _problem(404)
        spec = request.headers.get(BEHAVIOR_HEADER, model.rsplit("/", 1)[-1].partition(":")[0])
        behavior = Behavior.parse(spec)
        failure = await self.act_out(request, behavior, model, _problem)
        if failure is not None:
            return failure
        if request.method == "POST" and "id" not in request.match_info:
            if not isinstance(body, dict):
                return _problem(400)
            if not isinstance(body.get("input"), dict) or not body["input"].get("prompt"):
                return _problem(422)
        request[CALL] = self.call_of(request, number, body if isinstance(body, dict) else {}, behavior)
        return await handler(request)

    def _model_of(self, request: web.Request, body: Any) -> str | None:
        """The model a request is about: path, `version`, or the stored prediction's."""
        info = request.match_info
        if "owner" in info:
            return f"{info['owner']}/{info['name']}"
        if "id" in info:
            stored = self._prediction(info["id"])
            return None if stored is None else str(stored["model"])
        version = body.get("version") if isinstance(body, dict) else None
        return version.partition(":")[0] if isinstance(version, str) else ""

    def _prediction(self, prediction_id: str) -> dict[str, Any] | None:
        with self._predictions_lock:
            stored = self._predictions.get(prediction_id)
            return None if stored is None else dict(stored)

    def _store(self, prediction: dict[str, Any]) -> None:
        with self._predictions_lock:
            self._predictions[prediction["id"]] = prediction

    async def _create(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        prediction_id = f"rp{call.number:024d}"
        model = self._model_of(request, call.body) or ""
        version = call.body.get("version")
        inputs = call.body["input"]
        pieces = _reply(str(inputs["prompt"]), inputs.get("max_tokens") or inputs.get("max_new_tokens"))
        words = len(str(inputs["prompt"]).split()) + len(str(inputs.get("system_prompt") or "").split())
        metrics: dict[str, Any] = {"predict_time": 1.25}
        if not call.behavior.no_usage:
            metrics = {"input_token_count": words, "output_token_count": len(pieces), **metrics}
        stored = {
            "id": prediction_id,
            "model": model,
            "version": _version(model, version),
            "input": inputs,
            "pieces": pieces,
            "final": metrics,
            "status": "starting",
        }
        if request.headers.get("Prefer", "").startswith("wait"):
            stored["status"] = "succeeded"
        self._store(stored)
        return web.json_response(self._view(stored), status=201)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        stored = self._prediction(request.match_info["id"])
        assert stored is not None, "the middleware answered 404"
        if stored["status"] not in TERMINAL:
            stored["polls"] = stored.get("polls", 0) + 1  # the `polls`-th GET finds it done
            stored["status"] = "succeeded" if stored["polls"] >= self.polls else "processing"
            self._store(stored)
        return web.json_response(self._view(stored))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        stored = self._prediction(request.match_info["id"])
        assert stored is not None, "the middleware answered 404"
        if stored["status"] not in TERMINAL:
            stored["status"] = "canceled"
            self._store(stored)
        return web.json_response(self._view(stored))

    async def _output_stream(self, request: web.Request) -> web.StreamResponse:
        stored = self._prediction(request.match_info["id"])
        assert stored is not None, "the middleware answered 404"
        events = [
            f"event: output\nid: {index}:0\ndata: {piece}\n\n".encode()
            for index, piece in enumerate(stored["pieces"])
        ]
        done = '{"reason":"canceled"}' if stored["status"] == "canceled" else "{}"
        events.append(f"event: done\nid: {len(events)}:0\ndata: {done}\n\n".encode())
        return await self._stream(request, request[CALL], events, first_content=0)

    def _view(self, stored: dict[str, Any]) -> dict[str, Any]:
        """A prediction as Replicate shows it, in Replicate's field order."""
        prediction_id, status = stored["id"], stored["status"]
        done = status in TERMINAL
        base = self.base_url
        view: dict[str, Any] = {
            "id": prediction_id,
            "model": stored["model"],
            "version": stored["version"],
            "input": stored["input"],
            "logs": "",
            "output": stored["pieces"] if status == "succeeded" else None,
            "data_removed": False,
            "error": None,
            "status": status,
            "created_at": CREATED_AT,
        }
        if done:
            view |= {"started_at": CREATED_AT, "completed_at": COMPLETED_AT}
        if status == "succeeded":
            view["metrics"] = stored["final"]
        view["urls"] = {
            "cancel": f"{base}/predictions/{prediction_id}/cancel",
            "get": f"{base}/predictions/{prediction_id}",
            "stream": f"{self.url}/streams/{prediction_id}",
            "web": f"https://replicate.com/p/{prediction_id}",
        }
        return view


def _problem(status: int) -> web.Response:
    title, detail = ERRORS.get(status, ("Error", f"Fake upstream error {status}."))
    response = web.json_response(
        {"title": title, "detail": detail, "status": status}, status=status, content_type=PROBLEM_JSON
    )
    if status == 429:
        response.headers["Retry-After"] = "1"
    return response


def _reply(text: str, limit: Any) -> list[str]:
    """One piece per word, space-led after the first, as Replicate's language models stream."""
    words = ("echo: " + text).split()[:ECHO_WORDS]
    if isinstance(limit, int) and limit > 0:
        words = words[:limit]
    return [words[0], *(" " + word for word in words[1:])]


def _version(model: str, requested: Any) -> str:
    """The version id: the one asked for (`owner/name:id` or a bare id), else one made from the model."""
    if isinstance(requested, str) and requested:
        return requested.partition(":")[2] or requested
    return hashlib.sha256(model.encode()).hexdigest()
