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
"""

from __future__ import annotations

from aiohttp import web

from tests.fakes.openai_server import FakeOpenAI


class FakeCohereCompatibility(FakeOpenAI):
    @property
    def base_url(self) -> str:
        return self.server.url

    def build_app(self) -> web.Application:
        app = super().build_app()
        app.router.add_post("/compatibility/v1/chat/completions", self._chat)
        app.router.add_post("/compatibility/v1/embeddings", self._embeddings)
        return app


class FakeVertexOpenAI(FakeOpenAI):
    @property
    def base_url(self) -> str:
        return self.server.url

    def build_app(self) -> web.Application:
        app = super().build_app()
        endpoint = "/{version}/projects/{project}/locations/{location}/endpoints/openapi"
        app.router.add_post(endpoint + "/chat/completions", self._chat)
        return app
