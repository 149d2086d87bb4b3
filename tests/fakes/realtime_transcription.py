"""The fake Realtime server's input audio transcription (`realtime_server.py`), as OpenAI's works.

Off until a `session.update` turns it on: GA `session.audio.input.transcription` (`{"model": …}`,
or `null` to turn it off), the beta's `session.input_audio_transcription` (also in its
`transcription_session.update`, answered with `transcription_session.updated`). The session's
settings (`session.created`, `session.updated`) say it in the shape the client last used. While
on, each commit of the input audio is transcribed: after the commit's
`input_audio_buffer.committed` (and before the response voice detection starts), a
`conversation.item.input_audio_transcription.delta` and the `.completed` event, for that
commit's item, with usage as OpenAI bills it
(https://platform.openai.com/docs/api-reference/realtime-server-events/conversation/item/input_audio_transcription/completed):
a model named `whisper*` by the audio's length (`{"type": "duration", "seconds"}`, the audio being
24 kHz 16-bit mono: 48,000 bytes a second), the others in tokens (`{"type": "tokens", …}`: audio
tokens = the commit's audio bytes / 100, text tokens = the words of the transcription's `prompt`,
output tokens = the transcript's words). The transcript is `heard <n> bytes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

AUDIO_BYTES_PER_TOKEN = 100
AUDIO_BYTES_PER_SECOND = 48_000
_BETA_KEY = "input_audio_transcription"


@dataclass
class Transcription:
    """One session's transcription settings, and the audio appended since the last commit."""

    setting: dict[str, Any] | None = None  # as the client last gave it; None: off
    beta: bool = False  # the client gave it in the beta's shape
    uncommitted: int = 0  # audio bytes appended since the last commit

    def update(self, session: Any) -> None:
        """Take the settings a `session.update` (or `transcription_session.update`) gives."""
        if not isinstance(session, dict):
            return
        audio_in = (session.get("audio") or {}).get("input") or {}
        if "transcription" in audio_in:
            self.setting, self.beta = audio_in["transcription"], False
        if _BETA_KEY in session:
            self.setting, self.beta = session[_BETA_KEY], True

    def settings(self) -> dict[str, Any]:
        """The transcription part of the session object the server describes itself with."""
        if self.beta:
            return {_BETA_KEY: self.setting}
        return {
            "audio": {
                "input": {"format": {"type": "audio/pcm", "rate": 24000}, "transcription": self.setting}
            }
        }

    def committed(self, item_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The events (type, fields) transcribing a commit of the uncommitted audio, if on."""
        audio, self.uncommitted = self.uncommitted, 0
        if self.setting is None:
            return []
        model = str(self.setting.get("model") or "")
        transcript = f"heard {audio} bytes"
        at = {"item_id": item_id, "content_index": 0}
        done = {
            **at,
            "transcript": transcript,
            "usage": usage(model, audio, str(self.setting.get("prompt") or ""), transcript),
        }
        return [
            ("conversation.item.input_audio_transcription.delta", {**at, "delta": transcript}),
            ("conversation.item.input_audio_transcription.completed", done),
        ]


def usage(model: str, audio_bytes: int, prompt: str, transcript: str) -> dict[str, Any]:
    """A transcription's usage as OpenAI reports it for `model`."""
    if model.startswith("whisper"):
        return {"type": "duration", "seconds": audio_bytes / AUDIO_BYTES_PER_SECOND}
    audio, text, out = audio_bytes // AUDIO_BYTES_PER_TOKEN, len(prompt.split()), len(transcript.split())
    return {
        "type": "tokens",
        "input_tokens": audio + text,
        "output_tokens": out,
        "total_tokens": audio + text + out,
        "input_token_details": {"audio_tokens": audio, "text_tokens": text},
    }
