"""OpenAI's endpoints billed by something other than tokens, and what their requests say about it.

Wire formats: https://platform.openai.com/docs/api-reference/images/create — DALL·E is billed per
image, by size and quality (`n`, `size`, `quality`; defaults 1, 1024x1024, standard), and its
answer reports no usage (GPT Image models report tokens, read as any usage);
https://platform.openai.com/docs/api-reference/audio/createSpeech — speech is billed per character
of `input`, its answer is the audio itself; https://platform.openai.com/docs/api-reference/audio/createTranscription
— transcription is a multipart form (`model` is one of its fields) and its answer's `usage` is
`{"type": "duration", "seconds": …}` for models billed by the minute (tokens for the others).
"""

from __future__ import annotations

import re
from typing import Any

from sluicegate.types import Usage

DEFAULT_IMAGE_SIZE = "1024x1024"
DEFAULT_IMAGE_QUALITY = "standard"
Endings = tuple[frozenset[str], tuple[str, ...]]  # paths that are one of them, and `/` + each


def _endings(*paths: str) -> Endings:
    return frozenset(paths), tuple("/" + path for path in paths)


_IMAGE_PATHS = _endings("images/generations", "images/edits", "images/variations")
_FORM_PATHS = _endings("audio/transcriptions", "audio/translations", "images/edits", "images/variations")
_SPEECH_PATHS = _endings("audio/speech")
# A multipart form's `model` field: its part's headers, a blank line, the value up to the boundary.
_FORM_MODEL = re.compile(rb'name="model"\r?\n(?:[^\r\n]+\r?\n)*\r?\n([^\r\n]{1,200})\r?\n--')
_FORM_HEAD_BYTES = 64 * 1024  # the model field comes before the file in the SDKs; never scan audio


def _ends(path: str, endings: Endings) -> bool:
    whole, slashed = endings  # two C calls: this runs a few times for every request
    return path in whole or path.endswith(slashed)


def is_form(path: str) -> bool:
    """Whether requests to `path` are multipart forms (transcriptions, image edits)."""
    return _ends(path.rstrip("/"), _FORM_PATHS)


def form_model(body: bytes) -> str | None:
    """The `model` field of a multipart form body, when it comes in the form's first 64 KB."""
    found = _FORM_MODEL.search(body, 0, _FORM_HEAD_BYTES)
    return found.group(1).decode("utf-8", "replace").strip() if found else None


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
        text = payload.get("input")
        return Usage(characters=len(text)) if isinstance(text, str) else None
    return None


def duration_usage(raw: dict[str, Any]) -> Usage | None:
    """A transcription's `{"type": "duration", "seconds": …}` usage, else None."""
    seconds = raw.get("seconds")
    if raw.get("type") != "duration" or not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    return Usage(audio_seconds=float(seconds))
