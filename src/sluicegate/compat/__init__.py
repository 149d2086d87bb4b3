"""Translators for the unified OpenAI-compatible endpoint, `/v1/{account}/{gateway}/compat/...`.

One module per backend; OpenAI-compatible providers need none, their requests pass through with
only the `{provider}/` prefix taken off the model. `TARGETS` says, per provider slug, which
translator to use and where the client's `Authorization: Bearer <key>` goes for that provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDict

from sluicegate.compat.anthropic import ANTHROPIC_TRANSLATOR
from sluicegate.compat.base import Translator
from sluicegate.compat.google_ai_studio import GOOGLE_AI_STUDIO_TRANSLATOR
from sluicegate.compat.workers_ai import WORKERS_AI_TRANSLATOR


@dataclass(frozen=True)
class CompatTarget:
    translator: Translator
    key_header: str | None = None  # None: the bearer token is sent as it came
    defaults: Mapping[str, str] = field(default_factory=dict)  # headers the provider requires

    def headers(self, headers: CIMultiDict[str]) -> CIMultiDict[str]:
        """The client's headers as this provider wants them: the key moved, required ones added."""
        adapted = CIMultiDict(headers)
        if self.key_header is not None and "authorization" in adapted:
            scheme, _, key = adapted.pop("authorization").partition(" ")
            adapted[self.key_header] = key if scheme.lower() == "bearer" else scheme
        for name, value in self.defaults.items():
            adapted.setdefault(name, value)
        return adapted


TARGETS: Mapping[str, CompatTarget] = {
    # https://docs.anthropic.com/en/api/messages — key in x-api-key, version header required
    "anthropic": CompatTarget(ANTHROPIC_TRANSLATOR, "x-api-key", {"anthropic-version": "2023-06-01"}),
    # https://ai.google.dev/api/generate-content — key in x-goog-api-key
    "google-ai-studio": CompatTarget(GOOGLE_AI_STUDIO_TRANSLATOR, "x-goog-api-key"),
    # https://developers.cloudflare.com/workers-ai/ — a bearer API token, as the client sent it
    "workers-ai": CompatTarget(WORKERS_AI_TRANSLATOR),
}
