"""Translators for the unified OpenAI-compatible endpoint, `/v1/{account}/{gateway}/compat/...`.

This package is the framework only (the `Translator` contract in base.py, `CompatTarget` here);
each translator lives in its provider's package (`providers/<name>/compat.py`). OpenAI-compatible
providers need none, their requests pass through with only the `{provider}/` prefix taken off the
model. Each provider names its own translator, where the client's `Authorization: Bearer <key>`
goes and the headers it requires (`compat_target`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import CIMultiDict

from sluicegate.compat.base import Translator
from sluicegate.providers.base import Provider


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


def compat_targets(providers: Mapping[str, Provider]) -> dict[str, CompatTarget]:
    """Slug -> how the unified endpoint translates for it, for every provider that has a translator."""
    return {name: target for name, provider in providers.items() if (target := provider.compat_target())}
