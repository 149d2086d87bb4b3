"""Client APIs the unified endpoint speaks besides OpenAI chat, translated through chat.

`FORMATS` maps each compat path to its format (ingress/base.py says what a format does): the
`anthropic` SDK's `…/compat/v1/messages` (also `…/compat/messages`) and its `count_tokens`. A
request whose model belongs to the format's own provider skips the translation (`Native`).
"""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.ingress.anthropic_messages import COUNT_TOKENS, MESSAGES
from sluicegate.ingress.base import IngressFormat

FORMATS: Mapping[str, IngressFormat] = {
    "v1/messages": MESSAGES,
    "messages": MESSAGES,
    "v1/messages/count_tokens": COUNT_TOKENS,
    "messages/count_tokens": COUNT_TOKENS,
}
