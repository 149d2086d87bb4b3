"""Google AI Studio: the Gemini API at generativelanguage.googleapis.com.

API reference: https://ai.google.dev/api — paths such as `v1beta/models/{model}:generateContent`
are forwarded as sent, so are the key (`x-goog-api-key` header or `?key=`) and `?alt=sse`.
Cloudflare AI Gateway's endpoint is the same path under `.../{gateway}/google-ai-studio/`:
https://developers.cloudflare.com/ai-gateway/usage/providers/google-ai-studio/
"""

from __future__ import annotations

import re

from sluicegate.providers.base import KeyHeader
from sluicegate.providers.gemini.adapter import GeminiAPI

GOOGLE_AI_STUDIO = GeminiAPI(
    name="google-ai-studio",
    default_base_url="https://generativelanguage.googleapis.com",
    hosts=re.compile(r"generativelanguage\.googleapis\.com"),
    # https://ai.google.dev/gemini-api/docs/api-key (a `?key=` in the query works too)
    key_header=KeyHeader("x-goog-api-key", "{key}"),
)
