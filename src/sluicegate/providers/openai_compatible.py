"""Providers that speak OpenAI's API: one line of data each on the shared `OpenAICompatible` adapter.

Each base URL is what Cloudflare AI Gateway puts in front of the path that follows the provider
segment, so `…/{provider}/{path}` goes to `{base}/{path}`, e.g. `…/groq/chat/completions` to
`https://api.groq.com/openai/v1/chat/completions`. Custom providers (a local vLLM, llama.cpp or
Ollama server) are built from configuration with `OpenAICompatible(name, base_url)`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sluicegate.providers.base import Route
from sluicegate.providers.openai import WRITTEN_CAP, OpenAICompatible


@dataclass(frozen=True, slots=True)
class PrefixTolerant(OpenAICompatible):
    """An OpenAI-compatible provider whose clients may repeat the end of its base URL in the path.

    `sdk_prefix` is that end (`openai/v1/`): a path that starts with it is sent without it, so
    both Cloudflare's documented forms reach the same upstream URL.
    """

    sdk_prefix: str = ""

    def upstream_url(self, base_url: str, route: Route) -> str:
        path = route.path.removeprefix(self.sdk_prefix)
        return OpenAICompatible.upstream_url(self, base_url, Route(route.account, path, route.query))


# https://console.groq.com/docs/api-reference — the groq SDKs, which Cloudflare's docs point at
# `…/groq`, request `/openai/v1/chat/completions`; Cloudflare's curl example uses `…/groq/chat/completions`.
GROQ = PrefixTolerant(
    name="groq",
    default_base_url="https://api.groq.com/openai/v1",
    price_id="groq",
    compat_host="api.groq.com",
    sdk_prefix="openai/v1/",
    chat_cap=WRITTEN_CAP,  # its `max_tokens` is deprecated (…/api-reference#chat-create)
)
# https://docs.mistral.ai/api/ — Cloudflare's path keeps the version: `…/mistral/v1/chat/completions`.
MISTRAL = OpenAICompatible(
    name="mistral",
    default_base_url="https://api.mistral.ai",
    api_prefix="v1/",
    price_id="mistral",
    compat_host="api.mistral.ai",
    # https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post: any
    # field it lacks is a 422 `extra_forbidden`; the last chunk of a stream carries the usage.
    chat_refuses=frozenset({"user", "stream_options"}),
)
# https://api-docs.deepseek.com/api/create-chat-completion — `…/deepseek/chat/completions`.
DEEPSEEK = OpenAICompatible(
    name="deepseek",
    default_base_url="https://api.deepseek.com",
    price_id="deepseek",
    compat_host="api.deepseek.com",
    asks_stream_usage=True,  # `stream_options.include_usage`, as OpenAI's
)
# https://openrouter.ai/docs/api-reference/overview — Cloudflare documents both
# `…/openrouter/chat/completions` (its SDK example) and `…/openrouter/v1/chat/completions` (its curl).
OPENROUTER = PrefixTolerant(
    name="openrouter",
    default_base_url="https://openrouter.ai/api/v1",
    price_id="openrouter",
    compat_host="openrouter.ai",
    sdk_prefix="v1/",
    # `stream_options.include_usage` is taken (OpenRouter's SDKs call it deprecated: usage always
    # comes now); `usage.cost` is the charge (providers/reported_cost.py).
    asks_stream_usage=True,
    reports_cost=True,
)
# https://docs.perplexity.ai/api-reference/chat-completions-post — `…/perplexity-ai/chat/completions`.
PERPLEXITY = OpenAICompatible(
    name="perplexity-ai",
    default_base_url="https://api.perplexity.ai",
    price_id="perplexity",
    compat_host="api.perplexity.ai",
    # Its chunks carry `usage` unasked, the last one with the `cost` object; its API has no
    # `stream_options`, so it is not sent one.
    reports_cost=True,
)

COMPATIBLE_PROVIDERS = (GROQ, MISTRAL, DEEPSEEK, OPENROUTER, PERPLEXITY)
