"""Cloudflare Workers AI: everything the gateway knows about it, in one package.

- adapter.py: the `Provider` (URL with the account, key header, price id, usage from Cloudflare's
  envelope and streams, end markers, what the semantic cache compares) and `usage_from`;
- compat.py, compat_request.py: the unified endpoint's translation, OpenAI chat ⇄ `ai/run`, with
  Cloudflare's error envelope (`{"errors": [{"code", "message"}], "success": false}`) read in
  compat.py;
- texts.py: what guardrails read of its native requests and answers (Cloudflare's envelope, its
  streams).
"""

from sluicegate.providers.workers_ai.adapter import WORKERS_AI, WorkersAI, usage_from

__all__ = ["WORKERS_AI", "WorkersAI", "usage_from"]
