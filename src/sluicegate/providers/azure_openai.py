"""Azure OpenAI: OpenAI's wire format behind per-resource hosts and per-deployment paths.

Cloudflare AI Gateway maps `…/azure-openai/{resource}/{deployment}/{endpoint}?api-version=…` to
`https://{resource}.openai.azure.com/openai/deployments/{deployment}/{endpoint}?api-version=…`
(chat/completions, completions, embeddings, images, audio: every deployment endpoint), and
`…/azure-openai/{resource}/realtime?api-version=…&deployment=…` (or `…/{resource}/v1/realtime?model=…`)
to the resource's realtime WebSocket endpoint, `…/openai/realtime` (`…/openai/v1/realtime`). Azure's
v1 API (`…/azure-openai/{resource}/openai/v1/{endpoint}`, the deployment in the body's `model`) and
the resource's other paths below `/openai/` (`openai/responses`, `openai/files`) go as they are; on
the unified endpoint a model `azure-openai/{resource}/{deployment}` goes to the v1 API. Bodies,
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
from sluicegate.providers.openai import OPENAI, WRITTEN_CAP, OpenAICompatible
from sluicegate.providers.openai_stored import of_batches
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
        # https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference — deployment paths;
        # https://learn.microsoft.com/azure/ai-foundry/openai/api-version-lifecycle — the v1 API
        # (`/openai/v1/…`, the deployment in the body's `model`) and the other paths below `/openai/`.
        below = endpoint if deployment is None else f"deployments/{deployment}/{endpoint}"
        url = f"{host}/openai/{below}"
        return f"{url}?{route.query}" if route.query else url

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        """`/{resource}.openai.azure.com/openai/…`, as the SDKs send it: a deployment's path
        (`openai/deployments/{deployment}/…`) becomes Cloudflare's `{resource}/{deployment}/…`, any
        other (`openai/v1/…`, `openai/responses`, `openai/files`, ...) stays as it is."""
        if not (found := _HOST.match(host)):
            return None
        resource = found.group(1)
        deployment_path = path.removeprefix(_DEPLOYMENTS)
        if deployment_path != path:
            return HostRoute(f"{resource}/{deployment_path}", override)
        if path.startswith("openai/") and path != "openai/":
            return HostRoute(f"{resource}/{path}", override)
        raise BadRequest(
            f"Azure paths look like /{host}/openai/deployments/{{deployment}}/… or /{host}/openai/v1/…"
        )

    def compat_route(self, path: str, model: str) -> tuple[str, str]:
        """`azure-openai/{resource}/{deployment}` on the unified endpoint: the resource's v1 API,
        which takes the deployment in the body's `model` and needs no `api-version`."""
        resource, _, deployment = model.partition("/")
        if not deployment or not _RESOURCE.fullmatch(resource):
            raise BadRequest(
                f"compat's azure-openai models are azure-openai/{{resource}}/{{deployment}}, "
                f"e.g. azure-openai/my-resource/{model or 'my-deployment'} (got {model!r})",
                field="model",
                param="model",
            )
        return f"{resource}/openai/v1/{path}", deployment

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        """The body's `model` if it has one, else a deployment path's deployment name: Azure
        requests often carry no model, the deployment in the URL chooses it. (The v1 API's
        deployment is the body's `model`.)"""
        facts = OpenAICompatible.read_request(self, route, body)
        if facts.model is not None:
            return facts
        parts = route.path.split("/", 2)
        classic = len(parts) == 3 and parts[1] and parts[1] != "openai"
        return replace(facts, model=parts[1]) if classic else facts

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        """The deployment's model as its answer names it: Azure ignores the body's `model`, and a
        deployment's name need not be a model's. A stream names it in each chunk but the first
        (the prompt filter's, which names ""). Not a batch's: its `model` ran the batch's requests,
        whose usage no request to the gateway reports (openai_stored.py)."""
        if of_batches(route.path):
            return None
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


_DEPLOYMENTS = "openai/deployments/"


def _split(route: Route) -> tuple[str, str | None, str]:
    """The resource, deployment and endpoint of a route; the deployment is None for a path of
    the resource's own below `/openai/` (`openai/v1/chat/completions`: `v1/chat/completions`)."""
    parts = route.path.split("/", 2)
    if len(parts) == 3 and all(parts) and _RESOURCE.fullmatch(parts[0]):
        resource, deployment, endpoint = parts
        if deployment != "openai":
            return resource, deployment, endpoint
        if endpoint.startswith("deployments/"):
            _refuse_doubled(resource, endpoint.removeprefix("deployments/"))
        return resource, None, endpoint
    raise NotFound(
        "azure-openai paths are {resource_name}/{deployment_name}/{endpoint}, e.g. "
        "my-resource/my-deployment/chat/completions?api-version=2024-10-21, or the v1 API's "
        "{resource_name}/openai/v1/{endpoint}",
        path=route.path,
    )


def _refuse_doubled(resource: str, after: str) -> None:
    """`{resource}/openai/deployments/{deployment}/…` would reach `/openai/deployments/openai/
    deployments/…` on Azure (by Cloudflare's mapping), which no resource serves: the mark of
    `AzureOpenAI(azure_endpoint=…/azure-openai/{resource})`, which adds `/openai/deployments/`
    itself. A 400 that says what was meant, before anything goes upstream."""
    meant = f"{resource}/{after}"
    raise BadRequest(
        f"azure-openai/{resource}/{_DEPLOYMENTS}{after} would reach /{_DEPLOYMENTS}openai/deployments/"
        f"{after} on Azure: the provider endpoint already adds /{_DEPLOYMENTS}. Did you mean "
        f"azure-openai/{meant}? (An OpenAI client's base_url is …/azure-openai/{resource}/{{deployment}};"
        f" AzureOpenAI's azure_endpoint is the host-in-path form, …/{resource}.openai.azure.com.)",
        did_you_mean=f"azure-openai/{meant}",
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
    # OpenAI's below `/openai/v1/`, and the preview's `/openai/realtimeapi/sessions?api-version=…`
    # (https://learn.microsoft.com/azure/ai-foundry/openai/how-to/realtime-audio-webrtc)
    unrelayed_sessions=(*OPENAI.unrelayed_sessions, "/realtimeapi/sessions"),
)


def _model_named(document: Any) -> str | None:
    """The `model` of an answer or chunk (a Responses event's, in its `response`), if a name."""
    if not isinstance(document, dict):
        return None
    if isinstance(response := document.get("response"), dict):
        document = response
    model = document.get("model")
    return model if isinstance(model, str) and model else None
