"""What a route may ask about one request: metadata, the requested model and a few request facts."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_NO_METADATA: Mapping[str, Any] = {}


class RouteFacts:
    """The request as a route sees it. `count_prompt_tokens` is called at most once, and only when
    a route asks about `prompt_tokens_over`: counting tokens is the one fact that costs time."""

    __slots__ = ("_count", "_tokens", "has_tools", "metadata", "model", "stream", "token_id")

    def __init__(
        self,
        *,
        model: str = "",
        stream: bool = False,
        has_tools: bool = False,
        metadata: Mapping[str, Any] = _NO_METADATA,
        token_id: str | None = None,
        count_prompt_tokens: Callable[[], int] | None = None,
    ) -> None:
        self.model = model  # as the client sent it, e.g. "dynamic/support"
        self.stream = stream
        self.has_tools = has_tools
        self.metadata = metadata  # the parsed `cf-aig-metadata` header
        self.token_id = token_id  # the gateway token's id, for `token` scopes
        self._count = count_prompt_tokens
        self._tokens: int | None = None

    @property
    def prompt_tokens(self) -> int:
        if self._tokens is None:
            self._tokens = self._count() if self._count is not None else 0
        return self._tokens

    @classmethod
    def from_chat(
        cls,
        payload: Mapping[str, Any],
        metadata: Mapping[str, Any] = _NO_METADATA,
        token_id: str | None = None,
        count_prompt_tokens: Callable[[], int] | None = None,
    ) -> RouteFacts:
        """Facts of an OpenAI-shaped chat body (the unified endpoint's ingress)."""
        model = payload.get("model")
        return cls(
            model=model if isinstance(model, str) else "",
            stream=payload.get("stream") is True,
            has_tools=bool(payload.get("tools") or payload.get("functions")),
            metadata=metadata,
            token_id=token_id,
            count_prompt_tokens=count_prompt_tokens,
        )

    def field(self, name: str) -> Any:
        """The value of a request field a split is sticky on (`metadata.<field>` or `token`)."""
        if name == "token":
            return self.token_id
        return self.metadata.get(name.removeprefix("metadata."))
