"""The ingress contract: another client API on the unified endpoint, spoken through OpenAI chat.

OpenAI chat is the hub. An ingress format turns its request into a chat request (`to_chat`), and
renders the chat answer the providers' translators already produce back in its own shape: a JSON
body (`answer`), a stream event by event (`stream`), an error (`error`). So a new ingress format is
one module and a new provider one translator, never a translator per pair.

Formats are pure (no network or globals; a clock only as a field a test can set), like
translators and provider adapters.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import quote

import orjson
from multidict import CIMultiDict

from sluicegate.compat.base import TranslationError, ended_early
from sluicegate.providers.base import Provider
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.openai_usage import usage_object
from sluicegate.providers.sse import SseParser
from sluicegate.providers.texts import TextFormat
from sluicegate.types import Usage

__all__ = [
    "ChatChunks",
    "IngressFormat",
    "ItemReferences",
    "Native",
    "StreamRenderer",
    "TranslationError",
    "UnknownItem",
]

# The name a file part gets when its client gave none, by its media type (else `document`).
_FILE_EXTENSIONS: Final[Mapping[str, str]] = {
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/csv": ".csv",
    "application/json": ".json",
}


@dataclass(frozen=True, slots=True)
class Native:
    """Where the format is the provider's own API: `provider`'s `path` takes it untranslated, and
    `provider`'s adapter reads usage from answers in this shape (`path` is the route it reads at).
    `model_path`: where the API names its model in the path, not in the body (Gemini's
    `v1beta/models/{model}:generateContent`), that path with `{model}` in its place."""

    provider: Provider
    path: str
    model_path: str | None = None

    def request(self, payload: Mapping[str, Any], model: str) -> tuple[str, dict[str, Any]]:
        """The path and body that send `payload` untranslated to the provider's `model`."""
        if self.model_path is None:
            return self.path, {**payload, "model": model}
        body = {name: value for name, value in payload.items() if name != "model"}
        return self.model_path.replace("{model}", quote(model.removeprefix("models/"), safe="-._~")), body


class StreamRenderer(Protocol):
    """Stateful: chat.completion.chunk SSE bytes, split anywhere, in; the format's events out, each
    complete chunk rendered as soon as it arrives."""

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes:
        """What ends the stream: the format's closing events once `[DONE]` came, else the way the
        format shows a stream that failed mid-way (`unfinished`), never an invented end."""
        ...

    def unfinished(self) -> str | None:
        """Once closed: why the chat stream did not finish (no `[DONE]` came), else None."""
        ...

    def usage(self) -> Usage | None:
        """The usage the chat chunks reported so far (None: none yet): the format's own events may
        hold placeholders until then."""
        ...


class UnknownItem(TranslationError):
    """`input[index]` names `item_id`, for which the gateway keeps no item."""

    def __init__(self, index: int, item_id: str) -> None:
        super().__init__(f"no output item {item_id!r} is kept", field=f"input[{index}]")
        self.index, self.item_id = index, item_id


class ItemReferences(Protocol):
    """How a format's requests name earlier output items by id instead of sending them (the
    Responses API's `item_reference`), and which items of its answers a later request may name.
    The gateway keeps those (pipeline/response_items.py); the format only reads and writes JSON."""

    def named(self, payload: Mapping[str, Any]) -> list[str]: ...

    def resolved(self, payload: dict[str, Any], kept: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """`payload` with the items `kept` has in place of their references; `UnknownItem` names
        a reference `kept` has no item for."""
        ...

    def resolved_natively(
        self, payload: dict[str, Any], kept: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        """`payload` for the provider whose API the format is: the items `kept` has in place of
        their references, a reference it has none for as sent (the provider's own item), and an
        item the gateway rendered that the provider cannot read (another's thinking) left out."""
        ...

    def kept(self, asked: Mapping[str, Any], answer: bytes) -> list[dict[str, Any]]:
        """The items of a rendered answer a later request may name (each has an `id`)."""
        ...

    def kept_from_stream(self, asked: Mapping[str, Any], closing: bytes) -> list[dict[str, Any]]:
        """The same from a rendered stream's closing events (`StreamRenderer.close`)."""
        ...


class IngressFormat(ErrorShape, Protocol):
    """One client API on the compat endpoint. `name` is how logs and cache keys tell it apart;
    `text_format` is how guardrails read its bodies; as an `ErrorShape`, it words errors (the
    gateway's own and the upstream's, translated) as its API does."""

    @property
    def name(self) -> str: ...

    @property
    def text_format(self) -> TextFormat: ...

    @property
    def native(self) -> Native: ...

    @property
    def path_model(self) -> str | None:
        """The model the URL names, where the API names it there (Gemini's); None: the body's."""
        ...

    @property
    def request_id_header(self) -> str:
        """The header the API's SDKs read the request id from (compat/request_ids.py)."""
        ...

    @property
    def item_references(self) -> ItemReferences | None:
        """None: the format never names earlier items by id."""
        ...

    @property
    def counts(self) -> bool:
        """Whether the answer is a count of the request's input tokens, not a generation: made
        by the gateway (pipeline/token_count.py) unless the request passes through."""
        ...

    def count_answer(self, tokens: int) -> bytes:
        """The answer to a counting request (`counts`) that the gateway counted itself."""
        ...

    def hub_headers(self, headers: CIMultiDict[str], query: str = "") -> CIMultiDict[str]:
        """The client's headers as a chat client would send them (its key in `Authorization`),
        `query` the client's: where the API takes the key in the query too (Gemini's `?key=`)."""
        ...

    def to_chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The chat request `payload` means, its `model` kept; `TranslationError` names the field
        that cannot be said in chat."""
        ...

    def answer(self, asked: Mapping[str, Any], body: bytes) -> bytes:
        """A `chat.completion` JSON body as this format's answer to the request `asked`."""
        ...

    def stream(self, asked: Mapping[str, Any], usage: Usage | None = None) -> StreamRenderer:
        """The renderer of a chat stream answering `asked`; `usage`: the figures the stream will
        report, when they are known before it starts (a stored stream replayed)."""
        ...


class ChatChunks:
    """Splits chat SSE bytes into the JSON objects of their `data:` lines; `done` once `[DONE]` came,
    `usage` once a chunk reported it. Events that are not JSON objects are skipped: nothing could be
    rendered from them."""

    def __init__(self) -> None:
        self._events = SseParser()
        self.done = False
        self.usage: Usage | None = None

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        for event in self._events.feed(chunk):
            yield from self._dispatch(event.data)

    def close(self) -> Iterator[dict[str, Any]]:
        for event in self._events.close():
            yield from self._dispatch(event.data)

    def _dispatch(self, data: bytes | None) -> Iterator[dict[str, Any]]:
        if not data:
            return
        if data.strip() == b"[DONE]":
            self.done = True
            return
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(event, dict):
            # Only the last chunk of a stream reports usage (include_usage); the rest carry none or null.
            if (reported := event.get("usage")) is not None:
                self.usage = usage_object(reported) or self.usage
            yield event


class ChatStreamRendering(ABC):
    """What every format's `StreamRenderer` shares: chat chunks rendered as each completes
    (`_render`); at the close, the format's closing events once `[DONE]` came (`_finished`), else
    the event by which the format shows a stream that failed mid-way (`_cut_short`, given the
    reason `unfinished` then keeps for the log). `_ended` is set once an end went out (a closing
    event, or the provider's error inside the stream): nothing is rendered after it."""

    def __init__(self) -> None:
        self._chunks = ChatChunks()
        self._ended = False
        self._unfinished: str | None = None

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._render(event) for event in self._chunks.feed(chunk))

    def close(self) -> bytes:
        out = b"".join(self._render(event) for event in self._chunks.close())
        if self._ended:
            return out
        self._ended = True
        if not self._chunks.done:
            self._unfinished = ended_early()
            return out + self._cut_short(self._unfinished)
        return out + self._finished()

    def unfinished(self) -> str | None:
        return self._unfinished

    def usage(self) -> Usage | None:
        return self._chunks.usage

    @abstractmethod
    def _render(self, chunk: dict[str, Any]) -> bytes: ...

    @abstractmethod
    def _cut_short(self, reason: str) -> bytes: ...

    @abstractmethod
    def _finished(self) -> bytes: ...


def new_id() -> str:
    """The random part of the ids a format gives what it renders (`resp_…`, `msg_…`, `fc_…`):
    unique whatever ids the provider's answer had (a cached answer's, a server that counts from 1,
    a translation's stand-in), and not to be guessed, as an id is all a later request needs to read
    a kept Responses item."""
    return secrets.token_hex(16)


def file_part(data_url: str, filename: Any) -> dict[str, Any]:
    """A chat `file` part holding `data_url` (`data:<media type>;base64,…`) as `file_data`, named
    `filename`, else by its media type (`document.pdf`): OpenAI's chat API refuses `file_data`
    without a `filename` (https://platform.openai.com/docs/guides/pdf-files?api-mode=chat)."""
    if not isinstance(filename, str) or not filename:
        media_type = data_url.removeprefix("data:").partition(";")[0].partition(",")[0].lower()
        filename = "document" + _FILE_EXTENSIONS.get(media_type, "")
    return {"type": "file", "file": {"filename": filename, "file_data": data_url}}


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
