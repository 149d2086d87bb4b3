"""A fake Azure OpenAI resource: FakeOpenAI's answers behind Azure's deployment paths and errors.

    with FakeAzureOpenAI().serve() as fake:
        client = AzureOpenAI(azure_endpoint=fake.url, azure_deployment="prod-chat", api_version=...)

`fake.url` (also `fake.base_url`) stands for `https://{resource}.openai.azure.com`. Routes are
`/openai/deployments/{deployment}/{chat/completions,completions,embeddings}?api-version=…`, the
v1 API's `/openai/v1/{chat/completions,embeddings,responses,models}` (no `api-version`, the
deployment in the body's `model`) and `/openai/responses?api-version=…` (the same), and the
resource's batches, `/openai/batches?api-version=…` and `/openai/v1/batches` (openai_batches.py).
The deployment chooses the model, whatever the body says, as on Azure: `deployments` maps deployment
names to the model each serves (the `model` of the answers). A deployment named after a FakeOpenAI
behaviour (`error-400`, `rate-limited`, `slow-200`, `no-usage`, `drop-mid-stream`, ...) acts it out,
as does an `x-fake-behavior` header; any other unknown deployment is Azure's 404 DeploymentNotFound.

What differs from FakeOpenAI, as Azure does it: the key comes in an `api-key` header; a missing
`api-version` is a 404; 401, 404 and 429 bodies are Azure's `{"error": {"code", "message"}}`; chat
streams open with a `prompt_filter_results` chunk; answers carry an `apim-request-id` header.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from tests.fakes.openai_server import BEHAVIOR_HEADER, NUMBER, Behavior, Call, FakeOpenAI

DEPLOYMENTS: Mapping[str, str] = {
    "prod-chat": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "text-embedding-3-small": "text-embedding-3-small",
}
AZURE_ERRORS: Mapping[int, tuple[str, str]] = {
    401: (
        "401",
        "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a "
        "valid key for an active subscription and use a correct regional API endpoint for your resource.",
    ),
    429: (
        "429",
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {version} have "
        "exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second. "
        "Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the "
        "default rate limit.",
    ),
}
DEPLOYMENT_NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the "
    "last 5 minutes, please wait a moment and try again."
)
_SAFE = {"filtered": False, "severity": "safe"}
# What Azure sends first in a chat stream: the prompt's filter results, under an empty `object`,
# `id` and `model` (https://github.com/AbanteAI/archive-old-cli-mentat/issues/429 quotes one).
PROMPT_FILTER_CHUNK = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "system_fingerprint": None,
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {k: _SAFE for k in ("hate", "self_harm", "sexual", "violence")},
        }
    ],
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeAzureOpenAI(FakeOpenAI):
    def __init__(
        self,
        *,
        deployments: Mapping[str, str] = DEPLOYMENTS,
        api_key: str | None = None,
        entra_token: str | None = None,
    ) -> None:
        """`api_key`, when set, is required in the `api-key` header, or `entra_token` as
        `Authorization: Bearer` (else Azure's 401)."""
        super().__init__(models=tuple(deployments.values()))
        self.deployments = dict(deployments)
        self.azure_key = api_key
        self.entra_token = entra_token

    @property
    def base_url(self) -> str:
        return self.url

    def _signed_in(self, request: web.Request) -> bool:
        """An API key, or a Microsoft Entra ID token (`Authorization: Bearer`)."""
        if request.headers.get("api-key") == self.azure_key:
            return True
        return (
            self.entra_token is not None
            and request.headers.get("authorization") == f"Bearer {self.entra_token}"
        )

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._azure, self._middleware])
        app.on_response_prepare.append(_add_apim_request_id)
        prefix = "/openai/deployments/{deployment}"
        app.router.add_post(f"{prefix}/chat/completions", self._chat)
        app.router.add_post(f"{prefix}/completions", self._completions)
        app.router.add_post(f"{prefix}/embeddings", self._embeddings)
        # https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle: the v1 API.
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_post("/openai/v1/embeddings", self._embeddings)
        app.router.add_post("/openai/v1/responses", self._responses)
        app.router.add_get("/openai/v1/models", self._models)
        app.router.add_post("/openai/responses", self._responses)
        for batches in ("/openai", "/openai/v1"):  # the resource's batches (openai_batches.py)
            self.batches.add_routes(app, batches)
        return app

    @web.middleware
    async def _azure(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """What Azure checks before the model sees the request, and its own shape of some errors."""
        deployment = await _deployment(request)
        v1 = request.path.startswith("/openai/v1/")
        if request.match_info.http_exception is not None or not (v1 or "api-version" in request.query):
            return _azure_error(404, "404", "Resource not found")
        if self.azure_key is not None and not self._signed_in(request):
            return _azure_error(401, *AZURE_ERRORS[401])
        acts = Behavior.parse(request.headers.get(BEHAVIOR_HEADER, deployment)) != Behavior()
        deployed = deployment in self.deployments or "/batches" in request.path  # (a batch names none)
        if request.method == "POST" and not deployed and not acts:
            return _azure_error(404, "DeploymentNotFound", DEPLOYMENT_NOT_FOUND)
        response = await handler(request)
        if response.status == 429 and isinstance(response, web.Response):
            code, message = AZURE_ERRORS[429]
            text = message.format(version=request.query.get("api-version", "v1"))
            response.body = json.dumps({"error": {"code": code, "message": text}}).encode()
        return response

    async def _record(self, request: web.Request) -> tuple[int, Any]:
        # Record what arrived; answer as the deployment's model, as Azure does.
        number, body = await super()._record(request)
        deployment = await _deployment(request)
        if isinstance(body, dict):
            body = {**body, "model": self.deployments.get(deployment, deployment)}
        return number, body

    async def _stream(
        self, request: web.Request, call: Call, events: Sequence[bytes], first_content: int
    ) -> web.StreamResponse:
        if request.path.endswith("/chat/completions"):
            head = b"data: " + json.dumps(PROMPT_FILTER_CHUNK, separators=(",", ":")).encode() + b"\n\n"
            events, first_content = [head, *events], first_content + 1
        return await super()._stream(request, call, events, first_content)


async def _deployment(request: web.Request) -> str:
    """The deployment a request is for: its path's, else (the v1 API, `/openai/responses`) its
    body's `model`."""
    if deployment := request.match_info.get("deployment", ""):
        return deployment
    try:
        body = json.loads(await request.read() or b"null")
    except ValueError:
        return ""
    return str(body.get("model", "")) if isinstance(body, dict) else ""


def _azure_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _add_apim_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("apim-request-id", f"00000000-0000-4000-8000-{request.get(NUMBER, 0):012d}")
