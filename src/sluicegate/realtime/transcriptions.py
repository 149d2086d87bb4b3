"""A realtime session's input audio transcriptions: a second model, billed apart, on the session's key.

While the session's settings turn it on (`audio.input.transcription.model`; the beta's
`input_audio_transcription.model`), OpenAI transcribes each commit of the input audio with that
model and reports the transcription's own usage in its
`conversation.item.input_audio_transcription.completed` event: tokens (GPT transcribe models) or
seconds of audio (whisper-1), "billed according to the ASR model's pricing rather than the realtime
model's" (https://platform.openai.com/docs/api-reference/realtime-server-events). The model is read
from the upstream's own account of the session (`session.created`, `session.updated`), which says
what it runs, and each commit is priced at the model that was on when it was committed. The usage
is read and priced as an `audio/transcriptions` answer's is (`usage_object`, the price table; the
gateway's `fallback_price` for a model the table lacks), added to the session's tally for its log
record, and handed to the relay to charge.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from sluicegate.gateway import FallbackPrice
from sluicegate.outcome import Outcome
from sluicegate.outcome.pricing import Pricing
from sluicegate.providers.openai_realtime import (
    AUDIO_COMMITTED,
    SESSION_EVENTS,
    TRANSCRIBED,
    TRANSCRIPTION_FAILED,
    item_id,
    read_event,
    transcription_settings,
    transcription_usage,
)
from sluicegate.realtime.tally import SessionTally

WATCHED = SESSION_EVENTS | {AUDIO_COMMITTED, TRANSCRIBED, TRANSCRIPTION_FAILED}


class Transcriptions:
    """One session's transcriptions: the model on, those under way, each one's usage and cost."""

    def __init__(
        self, tally: SessionTally, pricing: Pricing, provider: str, fallback: FallbackPrice | None
    ) -> None:
        self._tally = tally
        self._pricing = pricing
        self._provider = provider
        self._fallback = fallback
        self.on = False  # whether the upstream's session transcribes its input audio
        self.model: str | None = None  # with this model (None: its settings name none)
        self.under_way: dict[str, str | None] = {}  # committed items being transcribed: their model

    async def seen(self, kind: str, frame: str) -> Outcome | None:
        """Note one of the upstream's `WATCHED` events; a completed transcription's usage and cost
        (already in the tally) are returned, to be charged."""
        event = read_event(frame, kind)
        if event is None:
            return None
        if kind in SESSION_EVENTS:
            for setting in transcription_settings(event.get("session")):
                model = setting.get("model") if isinstance(setting, dict) else None
                self.on, self.model = setting is not None, model if isinstance(model, str) else None
        elif kind == AUDIO_COMMITTED:
            if self.on:
                self.under_way[item_id(event)] = self.model
        elif kind == TRANSCRIPTION_FAILED:
            self.under_way.pop(item_id(event), None)
        else:
            return await self._completed(self.under_way.pop(item_id(event), self.model), event)
        return None

    async def _completed(self, model: str | None, event: dict[str, Any]) -> Outcome:
        usage = transcription_usage(event)
        cost = None
        if usage is not None:
            lookup = partial(self._pricing.model_price, self._provider, model, self._fallback, usage)
            if self._pricing.model_ready(self._provider, model):
                price = lookup()
            else:  # the first lookup may load price data: not on the event loop
                price = await asyncio.to_thread(lookup)
            cost = price.cost(usage) if price is not None else None
        self._tally.add_transcription(model, usage, cost)
        return Outcome(usage, cost)
