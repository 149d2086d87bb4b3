"""Fake upstreams for native providers' OpenAI-compatible APIs: real HTTP servers on loopback that
speak OpenAI's wire format (FakeOpenAI's handlers and behaviour vocabulary) at each provider's paths.

    with FakeCohereCompatibility().serve() as fake:
        OpenAI(base_url=f"{fake.base_url}/compatibility/v1", api_key="co-test")

- Cohere's Compatibility API (https://docs.cohere.com/docs/compatibility-api):
  `POST /compatibility/v1/chat/completions`, `POST /compatibility/v1/embeddings`.
- Vertex AI's OpenAI-compatible endpoint
  (https://cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview):
  `POST /{version}/projects/{project}/locations/{location}/endpoints/openapi/chat/completions`.

`base_url` is the host root (`https://api.cohere.ai`, `https://{location}-aiplatform.googleapis.com`).

And two OpenAI-compatible providers that state their charge in the usage object (`usage.cost`) of a
chat answer and of a stream's usage chunk, at prices of their own (not the price table's):

- OpenRouter (https://openrouter.ai/docs/use-cases/usage-accounting), `POST /api/v1/chat/completions`:
  `cost` in credits (USD), `is_byok`, `cost_details`. With `byok=True` the tokens are billed to the
  client's own provider key (`upstream_inference_cost`) and `cost` is OpenRouter's fee on it.
- Perplexity (https://docs.perplexity.ai/), `POST /chat/completions`: a `cost` object, its token
  costs, a request fee and `total_cost`; a stream's chunks carry it unasked (no usage chunk).

Their `base_url` is what the gateway's upstream for them is set to (`https://openrouter.ai/api/v1`,
`https://api.perplexity.ai`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.fakes.openai_server import FakeOpenAI


class FakeCohereCompatibility(FakeOpenAI):
    CHAT_HISTORY_RULES = False

    @property
    def base_url(self) -> str:
        return self.server.url

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/compatibility/v1/chat/completions", self._chat)
        app.router.add_post("/compatibility/v1/embeddings", self._embeddings)
        return app


class FakeVertexOpenAI(FakeOpenAI):
    CHAT_HISTORY_RULES = False

    @property
    def base_url(self) -> str:
        return self.server.url

    def build_app(self) -> web.Application:
        app = super().build_app()
        endpoint = "/{version}/projects/{project}/locations/{location}/endpoints/openapi"
        app.router.add_post(endpoint + "/chat/completions", self._chat)
        return app


class FakeOpenRouter(FakeOpenAI):
    CHAT_HISTORY_RULES = False
    PROMPT_PRICE, COMPLETION_PRICE = 4e-7, 1.6e-6  # USD a token, whatever the model
    BYOK_FEE = 0.05  # of the provider's charge, when the client's own key pays it

    def __init__(self, *, byok: bool = False) -> None:
        super().__init__()
        self.byok = byok

    @property
    def base_url(self) -> str:
        return self.server.url + "/api/v1"

    def usage_object(self, usage: dict[str, Any]) -> dict[str, Any]:
        prompt = usage["prompt_tokens"] * self.PROMPT_PRICE
        completion = usage["completion_tokens"] * self.COMPLETION_PRICE
        upstream = prompt + completion
        details = {
            "upstream_inference_cost": upstream,
            "upstream_inference_prompt_cost": prompt,
            "upstream_inference_completions_cost": completion,
        }
        cost = upstream * self.BYOK_FEE if self.byok else upstream
        return {**usage, "cost": cost, "is_byok": self.byok, "cost_details": details}

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/api/v1/chat/completions", self._chat)
        return app


class FakePerplexity(FakeOpenAI):
    CHAT_HISTORY_RULES = False
    TOKEN_PRICE = 1e-6  # USD a token, in or out (sonar's)
    REQUEST_FEE = 0.005  # a request with a low search context
    USAGE_ON_EVERY_CHUNK = True  # its API has no stream_options: every chunk carries `usage`

    @property
    def base_url(self) -> str:
        return self.server.url

    def usage_object(self, usage: dict[str, Any]) -> dict[str, Any]:
        costs = {
            "input_tokens_cost": round(usage["prompt_tokens"] * self.TOKEN_PRICE, 6),
            "output_tokens_cost": round(usage["completion_tokens"] * self.TOKEN_PRICE, 6),
            "request_cost": self.REQUEST_FEE,
        }
        cost = {**costs, "total_cost": round(sum(costs.values()), 6)}
        return {**usage, "search_context_size": "low", "cost": cost}

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/chat/completions", self._chat)
        return app
