"""OpenAI's endpoints billed by something other than tokens, and what their requests say about it.

Wire formats: https://platform.openai.com/docs/api-reference/images/create — DALL·E is billed per
image, by size and quality (`n`, `size`, `quality`; defaults 1, 1024x1024, standard), and its
answer reports no usage (GPT Image models report tokens, read as any usage);
https://platform.openai.com/docs/api-reference/audio/createSpeech — speech is billed per character
of `input` (tts-1; gpt-4o-mini-tts by text and audio tokens, which only its `stream_format: "sse"`
stream reports), its answer is the audio itself; https://platform.openai.com/docs/api-reference/audio/createTranscription
— transcription is a multipart form (`model` is one of its fields, before or after the file) and
its answer's `usage` is `{"type": "duration", "seconds": …}` for models billed by the minute
(tokens for the others), which a `response_format` of `text`, `srt` or `vtt` leaves out (the
answer is the text alone: its cost is unknown, `RequestFacts.priced_by_answer`); image edits and
variations are forms too (DALL·E 2: `n`, `size`).
"""

from __future__ import annotations

from typing import Any

from sluicegate.providers.base import RequestFacts
from sluicegate.providers.multipart import FormProblem, read_form
from sluicegate.types import Usage

DEFAULT_IMAGE_SIZE = "1024x1024"
DEFAULT_IMAGE_QUALITY = "standard"
Endings = tuple[frozenset[str], tuple[str, ...]]  # paths that are one of them, and `/` + each


def _endings(*paths: str) -> Endings:
    return frozenset(paths), tuple("/" + path for path in paths)


_IMAGE_PATHS = _endings("images/generations", "images/edits", "images/variations")
_FORM_PATHS = _endings("audio/transcriptions", "audio/translations", "images/edits", "images/variations")
_SPEECH_PATHS = _endings("audio/speech")
_TRANSCRIPTION_PATHS = _endings("audio/transcriptions", "audio/translations")
_READ_FIELDS = ("model", "n", "size", "quality")  # the form fields the gateway checks or bills by


def _ends(path: str, endings: Endings) -> bool:
    whole, slashed = endings  # two C calls: this runs a few times for every request
    return path in whole or path.endswith(slashed)


def is_form(path: str) -> bool:
    """Whether requests to `path` are multipart forms (transcriptions, image edits)."""
    return _ends(path.rstrip("/"), _FORM_PATHS)


def form_facts(path: str, body: bytes) -> RequestFacts:
    """What a multipart form says: its `model` (wherever its part sits), and for an image edit or
    variation the images its `n`, `size` and `quality` fields ask for. A form that cannot be walked
    to its closing boundary, or sends one of those fields twice or as a file, is refused (the
    gateway and the provider might each take another model or count)."""
    if not body:
        return RequestFacts()  # (the provider's 400)
    form = read_form(body)
    if form.broken_at is not None:  # the provider might find fields in it the gateway did not
        return RequestFacts(unreadable=FormProblem(form.broken, form.broken_at))
    for name in _READ_FIELDS:  # a parser keeping the last, or a file's bytes, is another value
        if name in form.files:
            return RequestFacts(unreadable=FormProblem(f"its `{name}` field is sent as a file", 0))
        if name in form.repeated:
            return RequestFacts(unreadable=FormProblem(f"its `{name}` field is sent more than once", 0))
    fields: dict[str, Any] = dict(form.fields)
    if isinstance(count := fields.get("n"), str):
        fields["n"] = int(count) if count.strip().isdigit() else count
    model = fields.get("model")
    return RequestFacts(
        model=model.strip() if model else None,
        billed=billed_by_request(path, fields),
        # Its usage is in a JSON answer only: `text`, `srt` and `vtt` answers are the text alone.
        priced_by_answer=_ends(path.rstrip("/"), _TRANSCRIPTION_PATHS),
    )


def billed_by_request(path: str, payload: Any) -> Usage | None:
    """What a request to a per-unit endpoint is billed for, as the request itself says: the images
    it asks for (`n` of `quality size`), or the characters a speech request reads out."""
    if not isinstance(payload, dict):
        return None
    path = path.rstrip("/")
    if _ends(path, _IMAGE_PATHS):
        count = payload.get("n", 1)
        size = payload.get("size") or DEFAULT_IMAGE_SIZE
        quality = payload.get("quality") or DEFAULT_IMAGE_QUALITY
        if not isinstance(count, int) or isinstance(count, bool) or not isinstance(size, str):
            return None
        return Usage(images=max(count, 0), image_size=f"{quality} {size}")
    if _ends(path, _SPEECH_PATHS):
        if payload.get("stream_format") == "sse":
            return None  # its stream's `speech.audio.done` reports the tokens it is billed by
        text = payload.get("input")
        return Usage(characters=len(text)) if isinstance(text, str) else None
    return None


def duration_usage(raw: dict[str, Any]) -> Usage | None:
    """A transcription's `{"type": "duration", "seconds": …}` usage, else None."""
    seconds = raw.get("seconds")
    if raw.get("type") != "duration" or not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    return Usage(audio_seconds=float(seconds))
