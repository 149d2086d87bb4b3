"""The usage of a chat stream, asked for by the gateway when its client did not.

OpenAI's chat streams carry usage only in a last chunk the request asks for
(`stream_options.include_usage`), which the SDKs do not ask by default. Without it the log's tokens
are the gateway's own count, and the charge a provider states in that chunk (OpenRouter's
`usage.cost`) is missing: the client would choose whether the stated cost counts. So a streamed
chat request to a provider that takes `stream_options` (`OpenAICompatible.asks_stream_usage`,
Hugging Face's router) goes upstream asking for it (`upstream_body`, in the forward stage only: the
cache keys, the log and the guardrails see the client's body), and the client, which did not ask,
gets the stream less that chunk (`strips_usage`, in the Log stage, after its copy: the meter and
the caches see it).
"""

from __future__ import annotations

from sluicegate.exchange import Step
from sluicegate.providers.huggingface import HuggingFace
from sluicegate.providers.openai import OpenAICompatible
from sluicegate.providers.openai_stream import asking_usage, include_usage_asked


def strips_usage(step: Step) -> bool:
    """Whether `step`'s stream goes upstream asking for a usage chunk its client did not ask for.
    (A cache hit for that client was stored with it and is served without it: openai_stream.py.)"""
    return (
        _asks_usage(step)
        and step.facts.stream
        and step.route.path.rstrip("/").endswith("chat/completions")
        and isinstance(step.facts.payload, dict)
        and not include_usage_asked(step.facts.payload)
    )


def _asks_usage(step: Step) -> bool:
    """Whether `step`'s provider takes `stream_options` where it goes: an OpenAI-compatible one that
    says so, or Hugging Face's router (`HuggingFace.asks_usage_at`)."""
    provider = step.provider
    if isinstance(provider, OpenAICompatible):
        return provider.asks_stream_usage
    return isinstance(provider, HuggingFace) and provider.asks_usage_at(step.route)


def upstream_body(step: Step) -> bytes:
    """The body `step` goes upstream with: its own, asking for the usage chunk where `strips_usage`."""
    if not strips_usage(step):
        return step.body
    return asking_usage(step.body, step.facts.payload) or step.body
