"""A realtime session's input audio transcription: a second model, billed apart on the session's key.

OpenAI reports each transcription's usage in its `conversation.item.input_audio_transcription.completed`
event (tokens for GPT transcribe models, seconds for whisper-1). The gateway prices it at the
transcription model's price, adds it to the session's cost and log record, charges it to the
budgets as it completes (a model-limited token's check of the transcription model:
`test_realtime_allowlist.py`). Sessions are opened with the official `openai` SDK's realtime
client; the budget's close code is read with the `websockets` client the SDK is built on (the SDK
hides it).
"""

# ruff: noqa: F811  (the fixtures are test_realtime's)

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from openai.types.realtime import ConversationItemInputAudioTranscriptionCompletedEvent
from websockets.exceptions import ConnectionClosed

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.realtime_server import FakeRealtime
from tests.integration.test_realtime import (  # noqa: F401  (fixtures)
    MODEL,
    gateway,
    is_json,
    kind,
    open_session,
    realtime,
    sdk_session,
    session_usage,
    set_settings,
    stored,
    until,
)

COMPLETED = "conversation.item.input_audio_transcription.completed"


def transcribe_with(model: str | None) -> dict[str, Any]:
    """A GA `session.update` turning the input audio transcription on with `model`."""
    transcription = None if model is None else {"model": model}
    return {"type": "realtime", "audio": {"input": {"transcription": transcription}}}


def appended(size: int) -> str:
    return base64.b64encode(bytes(size)).decode()


def transcribed(frames: list[bytes | str]) -> list[Usage]:
    """The usage of each transcription the frames report, checked against the SDK's own type."""
    usages = []
    for frame in frames:
        if is_json(frame) and kind(frame) == COMPLETED:
            raw = ConversationItemInputAudioTranscriptionCompletedEvent.model_validate_json(frame).usage
            if raw.type == "duration":
                usages.append(Usage(audio_seconds=raw.seconds))
            else:
                audio = raw.input_token_details.audio_tokens if raw.input_token_details else 0
                usages.append(Usage(raw.input_tokens, raw.output_tokens, input_audio_tokens=audio or 0))
    return usages


def test_a_sessions_transcriptions_are_priced_at_their_own_model_and_logged(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    with sdk_session(gateway) as connection:
        until(connection.recv_bytes, "session.created")
        connection.session.update(session=transcribe_with("gpt-4o-transcribe"))
        until(connection.recv_bytes, "session.updated")
        connection.input_audio_buffer.append(audio=appended(40_000))
        connection.input_audio_buffer.commit()  # transcribed, then answered (voice detection's turn)
        frames = until(connection.recv_bytes, "response.done")
        connection.session.update(session=transcribe_with("whisper-1"))
        until(connection.recv_bytes, "session.updated")
        connection.input_audio_buffer.append(audio=appended(96_000))  # 2 seconds
        connection.input_audio_buffer.commit()
        frames += until(connection.recv_bytes, "response.done")

    tokens, seconds = transcribed(frames)
    assert tokens.input_audio_tokens == 400
    assert seconds.audio_seconds == 2.0
    prices = PriceTable()
    transcriptions = [
        prices.cost("openai", "gpt-4o-transcribe", tokens),
        prices.cost("openai", "whisper-1", seconds),
    ]
    responses = prices.cost("openai", MODEL, session_usage(frames))
    assert responses is not None
    assert transcriptions[0] is not None
    assert transcriptions[1] is not None
    [record] = gateway.wait_for_logs(1)
    assert record["cost_usd"] == pytest.approx(responses + transcriptions[0] + transcriptions[1])
    # The record's tokens are the session model's; the transcriptions' are in its summary.
    assert record["tokens_in"] == session_usage(frames).input_tokens
    assert record["metadata"]["realtime_transcriptions"] == 2
    assert record["metadata"]["realtime_responses"] == 2
    summary = json.loads(stored(gateway, record)["response_body"])
    assert summary["transcriptions"] == [
        {
            "model": "gpt-4o-transcribe",
            "count": 1,
            "usage": {
                "type": "tokens",
                "input_tokens": 400,
                "output_tokens": tokens.output_tokens,
                "total_tokens": 400 + tokens.output_tokens,
                "input_token_details": {"audio_tokens": 400, "text_tokens": 0},
            },
            "cost_usd": pytest.approx(transcriptions[0]),
        },
        {
            "model": "whisper-1",
            "count": 1,
            "usage": {"type": "duration", "seconds": 2.0},
            "cost_usd": pytest.approx(transcriptions[1]),
        },
    ]


def test_a_usd_budget_counts_the_transcriptions(gateway: RunningGateway, realtime: FakeRealtime) -> None:
    """The budget has room for the response and for about half the transcription: once both are
    charged, the next `response.create` is refused (without the transcription, it would run)."""
    prices = PriceTable()
    audio = 800_000  # 8,000 audio tokens, for the transcription and the response alike
    response = prices.cost("openai", MODEL, Usage(8 + 8000, 1, input_audio_tokens=8000))
    transcription = prices.cost("openai", "gpt-4o-transcribe", Usage(8000, 3, input_audio_tokens=8000))
    assert response is not None
    assert transcription is not None
    # `reserve: 1`: a response reserves next to nothing, so only what was charged decides.
    rule = {
        "name": "voice budget",
        "limit": response + transcription / 2,
        "period": 86400,
        "unit": "cost",
        "reserve": 1,
    }
    set_settings(gateway, rate_limits=[rule])
    with open_session(gateway) as session:
        until(session.recv, "session.created")
        session.send(json.dumps({"type": "session.update", "session": transcribe_with("gpt-4o-transcribe")}))
        until(session.recv, "session.updated")
        session.send(json.dumps({"type": "input_audio_buffer.append", "audio": appended(audio)}))
        session.send('{"type": "input_audio_buffer.commit"}')
        frames = until(session.recv, "response.done")
        session.send('{"type": "response.create"}')
        with pytest.raises(ConnectionClosed) as closed:
            until(session.recv, "response.done")

    assert [usage.input_audio_tokens for usage in transcribed(frames)] == [8000]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "voice budget" in closed.value.rcvd.reason
    [upstream] = realtime.connections
    assert [kind(f) for f in upstream.received if isinstance(f, str)].count("response.create") == 0
    [record] = gateway.wait_for_logs(1)
    assert record["cost_usd"] == pytest.approx(response + transcription)


def transcribe_more(session: Any) -> None:
    """Commit more audio and wait for its transcription."""
    session.send(json.dumps({"type": "input_audio_buffer.append", "audio": appended(800_000)}))
    session.send('{"type": "input_audio_buffer.commit"}')
    until(session.recv, COMPLETED)


def test_a_session_that_only_transcribes_ends_once_a_transcription_spends_the_budget(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    """Without voice detection no response runs, so no admission would ever refuse: the charge of
    the transcription that spends the budget ends the session (1008), after its event is passed on."""
    transcription = PriceTable().cost("openai", "gpt-4o-transcribe", Usage(8000, 3, input_audio_tokens=8000))
    assert transcription is not None
    rule = {"name": "dictation budget", "limit": transcription / 2, "period": 86400, "unit": "cost"}
    set_settings(gateway, rate_limits=[rule])
    session_settings = transcribe_with("gpt-4o-transcribe")
    session_settings["audio"]["input"]["turn_detection"] = None
    with open_session(gateway) as session:
        until(session.recv, "session.created")
        session.send(json.dumps({"type": "session.update", "session": session_settings}))
        until(session.recv, "session.updated")
        session.send(json.dumps({"type": "input_audio_buffer.append", "audio": appended(800_000)}))
        session.send('{"type": "input_audio_buffer.commit"}')
        frames = until(session.recv, COMPLETED)
        with pytest.raises(ConnectionClosed) as closed:  # (it may come while the next audio is sent)
            transcribe_more(session)

    assert [usage.input_audio_tokens for usage in transcribed(frames)] == [8000]
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    assert "dictation budget" in closed.value.rcvd.reason
    [upstream] = realtime.connections
    sent = [kind(f) for f in upstream.received if isinstance(f, str)]
    assert sent.count("input_audio_buffer.commit") == 1  # the second never went on
    [record] = gateway.wait_for_logs(1)
    assert record["cost_usd"] == pytest.approx(transcription)
    assert "dictation budget" in record["error"]


def test_seconds_of_a_model_only_a_token_price_covers_are_unpriced_not_free(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    # A local whisper no table prices, billed by the second, under a fallback price per token: the
    # fallback has no rate for seconds, so the transcription's cost is unknown, not 0.
    set_settings(gateway, fallback_price={"input_per_mtok": 1, "output_per_mtok": 2})
    with sdk_session(gateway) as connection:
        until(connection.recv_bytes, "session.created")
        connection.session.update(session=transcribe_with("whisper-local-large"))
        until(connection.recv_bytes, "session.updated")
        connection.input_audio_buffer.append(audio=appended(96_000))  # 2 seconds
        connection.input_audio_buffer.commit()
        frames = until(connection.recv_bytes, "response.done")
    [seconds] = transcribed(frames)
    assert seconds.audio_seconds == 2.0
    [record] = gateway.wait_for_logs(1)
    summary = json.loads(stored(gateway, record)["response_body"])
    [transcription] = summary["transcriptions"]
    assert transcription["model"] == "whisper-local-large"
    assert transcription["cost_usd"] is None
    assert transcription["unpriced"] is True
