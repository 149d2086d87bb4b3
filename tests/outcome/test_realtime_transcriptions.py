"""A realtime session's transcriptions, event by event (realtime/transcriptions.py): each priced at the
model that was on when its audio was committed, a failed one at nothing, an unpriced one said so."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sluicegate.gateway import FallbackPrice
from sluicegate.outcome.pricing import Pricing
from sluicegate.realtime.tally import TRANSCRIPTIONS_KEY, SessionTally
from sluicegate.realtime.transcriptions import Transcriptions
from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable

TABLE = PriceTable()
TOKENS = {"type": "tokens", "input_tokens": 100, "output_tokens": 5, "total_tokens": 105}
TOKENS_USAGE = Usage(100, 5)  # (no `input_token_details`: no audio tokens said)


def frame(kind: str, **fields: Any) -> tuple[str, str]:
    return kind, json.dumps({"type": kind, "event_id": "event_1", **fields})


def transcribing(model: str | None) -> tuple[str, str]:
    setting = None if model is None else {"model": model}
    return frame("session.updated", session={"audio": {"input": {"transcription": setting}}})


def committed(item: str) -> tuple[str, str]:
    return frame("input_audio_buffer.committed", item_id=item)


def completed(item: str, usage: dict[str, Any]) -> tuple[str, str]:
    return frame("conversation.item.input_audio_transcription.completed", item_id=item, usage=usage)


async def play(transcriptions: Transcriptions, *events: tuple[str, str]) -> list[Any]:
    return [await transcriptions.seen(kind, event) for kind, event in events]


async def test_each_is_priced_at_the_model_on_when_its_audio_was_committed() -> None:
    tally = SessionTally()
    transcriptions = Transcriptions(tally, Pricing(TABLE), "openai", None)
    outcomes = await play(
        transcriptions,
        transcribing("gpt-4o-transcribe"),
        committed("item_1"),
        transcribing("whisper-1"),  # changed while item_1 is being transcribed
        completed("item_1", TOKENS),
        committed("item_2"),
        frame("conversation.item.input_audio_transcription.failed", item_id="item_2"),
        transcribing(None),
        committed("item_3"),  # off: nothing under way
    )

    first = TABLE.cost("openai", "gpt-4o-transcribe", TOKENS_USAGE)
    assert first is not None
    done = outcomes[3]
    assert (done.usage, done.cost_usd) == (TOKENS_USAGE, pytest.approx(first))
    assert [outcome for index, outcome in enumerate(outcomes) if index != 3] == [None] * 7
    assert transcriptions.under_way == {}
    assert tally.transcription_cost == pytest.approx(first)
    assert tally.metadata()[TRANSCRIPTIONS_KEY] == 1  # the failed one costs nothing, counts nothing
    assert json.loads(tally.summary())["transcriptions"][0]["model"] == "gpt-4o-transcribe"


async def test_a_model_nothing_prices_is_said_unpriced_unless_the_gateway_has_a_fallback_price() -> None:
    tally = SessionTally()
    await play(
        Transcriptions(tally, Pricing(TABLE), "openai", None),
        transcribing("asr-nobody-prices"),
        committed("item_1"),
        completed("item_1", TOKENS),
    )
    assert tally.transcription_cost is None
    [entry] = json.loads(tally.summary())["transcriptions"]
    assert (entry["cost_usd"], entry["unpriced"], entry["count"]) == (None, True, 1)

    fallback = FallbackPrice(input_per_mtok=10, output_per_mtok=20)
    priced = SessionTally()
    await play(
        Transcriptions(priced, Pricing(TABLE), "openai", fallback),
        transcribing("asr-nobody-prices"),
        committed("item_1"),
        completed("item_1", TOKENS),
    )
    assert priced.transcription_cost == pytest.approx((100 * 10 + 5 * 20) / 1e6)


def test_a_session_without_transcriptions_says_nothing_of_them() -> None:
    tally = SessionTally()
    assert TRANSCRIPTIONS_KEY not in tally.metadata()
    assert "transcriptions" not in json.loads(tally.summary())
    assert tally.transcription_cost is None
