"""The text guardrails read of the endpoints that take a prompt or an input and no conversation
(`providers/texts.py`'s `TextFormat`):

- OpenAI's (legacy) completions: the `prompt` (a string or strings; token ids are no text) and
  `suffix`; answers' `choices[].text`, whole and streamed (a pipe for each choice's `index`, what
  it holds going out with the choice's finishing chunk). Mistral's FIM completions take the same
  `prompt` and `suffix`.
- Anthropic's legacy Text Completions (`/v1/complete`): the `prompt`; answers' `completion`, whole
  and streamed (`completion` events, what the pipe holds going out with the one that has a
  `stop_reason`).
- OpenAI's image generations: the `prompt`; answers' `revised_prompt` (DALL·E 3's rewrite of it).
- OpenAI's embeddings (`input`: a string or strings), moderations (`input`: a string, strings or
  `text` parts) and speech (`input`, the text spoken, and `instructions`): the request only; their
  answers (vectors, scores, audio) hold no text (`answering` is None: they are not read at all).

An input to embed, classify or speak is read as a `document`: not a user's turn, so not read for
prompt injection (an article about injections is embedded as it is), but read by every other rule.
https://platform.openai.com/docs/api-reference/completions,
https://docs.anthropic.com/en/api/complete, https://platform.openai.com/docs/api-reference/images,
https://platform.openai.com/docs/api-reference/embeddings,
https://platform.openai.com/docs/api-reference/moderations,
https://platform.openai.com/docs/api-reference/audio/createSpeech
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import Text, TextFormat, TextPipes, as_list, string

# What a closing chunk made of what a choice's pipe still holds repeats of the last chunk.
_CHUNK_FIELDS = ("id", "object", "created", "model")


def _prompts(body: dict[str, Any], key: str, role: str) -> Iterator[Text]:
    """A string at `body[key]`, each string of a list there, and each `text` part's text."""
    value = body.get(key)
    if isinstance(value, str):
        yield Text(body, key, role)
        return
    items = as_list(value)
    for at, item in enumerate(items):
        if isinstance(item, str):
            yield Text(items, at, role)
        elif isinstance(item, dict) and item.get("type") == "text":
            yield from string(item, "text", role)


@dataclass(frozen=True, slots=True)
class InputTexts:
    """A request's `keys` (`(key, role)` pairs), each a string, strings or `text` parts; with
    `answers`, the answers' `data[]` entries' text at that key, else no answer is read."""

    name: str
    keys: tuple[tuple[str, str], ...]
    answers: str | None = None

    def answering(self, request: Any) -> InputTexts | None:
        return self if self.answers is not None else None

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for key, role in self.keys:
            yield from _prompts(body, key, role)

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        if self.answers is not None:
            for entry in as_list(body.get("data")):
                yield from string(entry, self.answers, "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        return b""  # an image stream's events carry images; the others' answers are not read

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        return b""


@dataclass(frozen=True, slots=True)
class CompletionsTexts:
    """OpenAI's completions (see above)."""

    name: str = "openai_completions"

    def answering(self, request: Any) -> CompletionsTexts:
        return self

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from _prompts(body, "prompt", "user")
        yield from string(body, "suffix", "user")

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for choice in as_list(body.get("choices")):
            yield from string(choice, "text", "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        for choice in as_list(event.get("choices")):
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            if isinstance(choice.get("text"), str):
                choice["text"] = pipes.feed(index, choice["text"])
            if choice.get("finish_reason") is not None and (rest := pipes.close(index)):
                choice["text"] = (choice.get("text") or "") + rest
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        choice = {"index": index, "text": text, "logprobs": None, "finish_reason": None}
        return sse_data({**{key: last[key] for key in _CHUNK_FIELDS if key in last}, "choices": [choice]})


@dataclass(frozen=True, slots=True)
class CompleteTexts:
    """Anthropic's Text Completions (see above); its stream's one pipe is at index 0."""

    name: str = "anthropic_complete"

    def answering(self, request: Any) -> CompleteTexts:
        return self

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from string(body, "prompt", "user")

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from string(body, "completion", "assistant")

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        if event.get("type") != "completion":
            return b""
        if isinstance(event.get("completion"), str):
            event["completion"] = pipes.feed(0, event["completion"])
        if event.get("stop_reason") is not None and (rest := pipes.close(0)):
            event["completion"] = (event.get("completion") or "") + rest
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        event = {"type": "completion", "id": last.get("id"), "completion": text, "stop_reason": None}
        return sse_data({**event, "model": last.get("model")}, "completion")


COMPLETIONS_TEXTS = CompletionsTexts()
COMPLETE_TEXTS = CompleteTexts()
IMAGES_TEXTS = InputTexts("openai_images", (("prompt", "user"),), answers="revised_prompt")
EMBEDDINGS_TEXTS = InputTexts("openai_embeddings", (("input", "document"),))
MODERATIONS_TEXTS = InputTexts("openai_moderations", (("input", "document"),))
SPEECH_TEXTS = InputTexts("openai_speech", (("input", "document"), ("instructions", "system")))
# Cohere's embed (v1 and v2): its `texts` (https://docs.cohere.com/reference/embed).
COHERE_EMBED_TEXTS = InputTexts("cohere_embed", (("texts", "document"),))
# OpenAI's prompt-only endpoints by the end of their path (Azure's deployments and the servers of
# OpenAI's API end theirs alike; Mistral's `fim/completions` too).
_OPENAI_ENDS: tuple[tuple[str, TextFormat], ...] = (
    ("completions", COMPLETIONS_TEXTS),
    ("embeddings", EMBEDDINGS_TEXTS),
    ("moderations", MODERATIONS_TEXTS),
    ("images/generations", IMAGES_TEXTS),
    ("audio/speech", SPEECH_TEXTS),
)


def openai_prompt_texts(path: str) -> TextFormat | None:
    """The format of an OpenAI prompt-only endpoint at `path` (unquoted, no trailing `/`), if any."""
    return next((found for end, found in _OPENAI_ENDS if path.endswith(end)), None)
