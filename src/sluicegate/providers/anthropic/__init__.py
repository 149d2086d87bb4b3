"""Anthropic: everything the gateway knows about it, in one package.

- adapter.py: the `Provider` (URL, key header, price id, usage from JSON and streams, end markers,
  what the semantic cache compares) and `usage_from`;
- stream.py: a streamed Messages answer read back as one message;
- errors.py: Anthropic's error shape, read for the unified endpoint and written by the Anthropic
  Messages ingress;
- compat.py, compat_request.py: the unified endpoint's translation, OpenAI chat ⇄ Messages;
- texts.py: the text of Messages bodies and streams that guardrails read (`MESSAGES_TEXTS`).

Claude on Vertex AI answers in this format too (google_vertex_ai.py reads it with this adapter).
"""

from sluicegate.providers.anthropic.adapter import ANTHROPIC, Anthropic, usage_from

__all__ = ["ANTHROPIC", "Anthropic", "usage_from"]
