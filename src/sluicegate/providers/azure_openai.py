"""Azure OpenAI: OpenAI's wire format behind per-resource hosts and per-deployment paths.

Cloudflare AI Gateway maps `…/azure-openai/{resource}/{deployment}/{endpoint}?api-version=…` to
`https://{resource}.openai.azure.com/openai/deployments/{deployment}/{endpoint}?api-version=…`
(chat/completions, completions, embeddings, images, audio: every deployment endpoint), and
`…/azure-openai/{resource}/realtime?api-version=…&deployment=…` (or `…/{resource}/v1/realtime?model=…`)
to the resource's realtime WebSocket endpoint, `…/openai/realtime` (`…/openai/v1/realtime`). Bodies,
streams and usage are OpenAI's, so this reuses `OpenAICompatible` and overrides where the URL comes
from and where the model may come from. The client's `api-key` header is forwarded as sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import orjson

from sluicegate.errors import BadRequest, NotFound
from sluicegate.providers.authorization_field import KeyOrBearer
from sluicegate.providers.base import HostRoute, RequestFacts, Route
from sluicegate.providers.openai import WRITTEN_CAP, OpenAICompatible
from sluicegate.providers.sse import iter_json

RESOURCE_PLACEHOLDER = "{resource}"
# An Azure resource's custom subdomain: letters, digits and hyphens. Anything else could turn the
# host into another one, so it is refused before it gets near a URL.
_RESOURCE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?")
_HOST = re.compile(r"^([a-z0-9][a-z0-9-]{0,62})\.openai\.azure\.com$")


@dataclass(frozen=True, slots=True)
class AzureOpenAI(OpenAICompatible):
    """`default_base_url` (or a configured upstream) names the resource's host; a `{resource}` in it
    is replaced by the resource from the path, and a base URL without one is used as it is."""

    def upstream_url(self, base_url: str, route: Route) -> str:
        realtime = _realtime(route)
        if realtime is not None:
            resource, path = realtime
            url = f"{base_url.replace(RESOURCE_PLACEHOLDER, resource).rstrip('/')}/openai/{path}"
            return f"{url}?{route.query}" if route.query else url
        resource, deployment, endpoint = _split(route)
        host = base_url.replace(RESOURCE_PLACEHOLDER, resource).rstrip("/")
        # https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference — deployment paths.
        url = f"{host}/openai/deployments/{deployment}/{endpoint}"
        return f"{url}?{route.query}" if route.query else url

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        """`/{resource}.openai.azure.com/openai/deployments/{deployment}/…`, as the SDK sends it."""
        if not (found := _HOST.match(host)):
            return None
        deployment_path = path.removeprefix("openai/deployments/")
        if deployment_path == path:
            raise BadRequest(f"Azure paths look like /{host}/openai/deployments/{{deployment}}/…")
        return HostRoute(f"{found.group(1)}/{deployment_path}", override)

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        """The body's `model` if it has one, else the deployment name: Azure requests often carry
        no model, the deployment in the URL chooses it."""
        facts = OpenAICompatible.read_request(self, route, body)
        if facts.model is not None:
            return facts
        parts = route.path.split("/", 2)
        return replace(facts, model=parts[1]) if len(parts) == 3 and parts[1] else facts

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        """The deployment's model as its answer names it: Azure ignores the body's `model`, and a
        deployment's name need not be a model's. A stream names it in each chunk but the first
        (the prompt filter's, which names "")."""
        if not streamed:
            try:
                return _model_named(orjson.loads(body))
            except orjson.JSONDecodeError:
                return None
        return next(filter(None, map(_model_named, iter_json(body, mentioning=(b'"model"',)))), None)


# A realtime session's paths below the resource (the SDK's `AzureOpenAI` asks for `openai/realtime`),
# and where each goes below the resource's `/openai/`.
_REALTIME_PATHS = {
    "realtime": "realtime",
    "openai/realtime": "realtime",
    "v1/realtime": "v1/realtime",
    "openai/v1/realtime": "v1/realtime",
}


def _realtime(route: Route) -> tuple[str, str] | None:
    """The resource and the path below its `/openai/` of a realtime session's route, else None."""
    resource, _, rest = route.path.partition("/")
    path = _REALTIME_PATHS.get(rest.rstrip("/"))
    return (resource, path) if path is not None and _RESOURCE.fullmatch(resource) else None


def _split(route: Route) -> tuple[str, str, str]:
    parts = route.path.split("/", 2)
    if len(parts) == 3 and all(parts) and _RESOURCE.fullmatch(parts[0]):
        return parts[0], parts[1], parts[2]
    raise NotFound(
        "azure-openai paths are {resource_name}/{deployment_name}/{endpoint}, e.g. "
        "my-resource/my-deployment/chat/completions?api-version=2024-10-21",
        path=route.path,
    )


AZURE_OPENAI = AzureOpenAI(
    name="azure-openai",
    default_base_url="https://{resource}.openai.azure.com",
    price_id="azure",
    realtime=True,
    # https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference#authentication: an API key
    # in `api-key`, or a Microsoft Entra ID token as `Authorization: Bearer`.
    key_header=KeyOrBearer("api-key", "{key}"),
    chat_cap=WRITTEN_CAP,  # Azure serves OpenAI's models, reasoning models included
)


def _model_named(document: Any) -> str | None:
    """The `model` of an answer or chunk (a Responses event's, in its `response`), if a name."""
    if not isinstance(document, dict):
        return None
    if isinstance(response := document.get("response"), dict):
        document = response
    model = document.get("model")
    return model if isinstance(model, str) and model else None
