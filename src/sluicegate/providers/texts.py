"""The text formats guardrails read: what of a provider's request and answer bodies, and of its
streamed events, is text a person or a tool may read, so it can be read or rewritten and the rest
left alone (models, tool schemas, images, ids). That is prose (the turns' text, tool results) and
JSON (the arguments of the model's tool calls, whole or streamed, and the answer's text itself when
the request asked for a JSON answer: structured outputs, JSON mode): JSON is marked as such, so
that guardrails read its values and keep it valid JSON (`guardrails/json_values.py`). Also where
an API's request bodies hold what the token estimator counts (`TokenKeys`).

A `TextFormat` is a provider's own knowledge (its module exports it, its adapter's `text_format`
names it), and so are its `TokenKeys` (its adapter's `token_keys`); this module is the framework
only: `Text`, the small walkers formats share, what `guardrails/sse.py`'s filter offers a format's
stream handler (`TextPipes`), and `TokenKeys`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Text:
    """One piece of text: `owner[key]` is the string; `role` is whose turn it is (`system` for
    system and developer instructions, `assistant` for the model's own turns and tool calls, `tool`
    for tool results).

    With `json`, `owner[key]` holds JSON (a tool call's arguments, a structured answer's text): a
    JSON text when it is a string (OpenAI's `arguments`, the answer's `content`), else the parsed
    object (Anthropic's `input`, Gemini's `args`); `value` is JSON text either way and `set` takes
    JSON text. A reader must keep it valid JSON.

    With `signed`, the text is signed by its provider beside it (a Claude thinking block's
    `signature`): a text set to anything else is no longer what was signed, so its signature is
    emptied (`""`, as Anthropic's streams start a block), never left to vouch for other words.

    With `echo`, the text is the client's own that an answer repeats (Cohere v1's `chat_history`
    holds the user's turns): no response rule reads it, only `restore` puts the request's
    placeholders back in it. `copies` are other places (`(owner, key)`) that repeat this text as
    it is (the answer's text again as the history's last turn): `set` sets them too, so the text
    is read once and never left unredacted in its copy."""

    owner: dict[str, Any] | list[Any]
    key: str | int
    role: str
    json: bool = False
    signed: bool = False
    echo: bool = False
    copies: tuple[tuple[dict[str, Any] | list[Any], str | int], ...] = ()

    @property
    def value(self) -> str:
        value = self.owner[self.key]  # type: ignore[index]
        if isinstance(value, str):
            return value
        return orjson.dumps(value).decode()

    def set(self, value: str) -> None:
        if self.signed and isinstance(self.owner, dict) and value != self.value:
            self.owner["signature"] = ""
        for owner, key in ((self.owner, self.key), *self.copies):
            parsed = self.json and not isinstance(owner[key], str)  # type: ignore[index]
            owner[key] = orjson.loads(value) if parsed else value  # type: ignore[index]


class TextPipes(Protocol):
    """What the stream filter offers a format: one pipe per choice, block, part or tool call, by
    `index` (any hashable the format picks), each holding back only the tail a match may still
    span. With `json`, the text is JSON (a tool call's arguments, in fragments): its pipe reads it
    value by value and what it lets through stays valid JSON. `changed`: whether the event being
    handled is to be written again; the pipes set it when a text comes out changed, a handler that
    edits the event otherwise (an emptied signature) sets it too."""

    changed: bool

    def feed(self, index: Hashable, text: str, *, json: bool = False) -> str:
        """`text` through the pipe at `index` (opened on first use, a JSON pipe with `json`): what
        may be sent now."""
        ...

    def close(self, index: Hashable) -> str:
        """What the pipe at `index` still holds, the pipe closed; "" when none is open there."""
        ...

    def close_where(self, which: Callable[[Any], bool]) -> list[tuple[Any, str]]:
        """What the open pipes whose index `which` picks still hold (none that held nothing),
        closed: a choice's tool calls when the choice ends."""
        ...

    def whole(self, text: str, *, json: bool = False) -> str:
        """A complete text at once (an event that repeats what its deltas said), filtered alike."""
        ...

    def restored(self, text: str, *, json: bool = False) -> str:
        """A text of the client's own that the answer repeats (`Text.echo`): the request's
        placeholders put back where `restore` is on, no rule run on it."""
        ...

    def altered(self, index: Hashable) -> bool:
        """Whether what went through the pipe at `index` (open, or the last closed there) came out
        other than it went in: something redacted or restored. What it holds back is no change."""
        ...


class TextFormat(Protocol):
    """One API's bodies as guardrails read them. Bodies are parsed JSON objects; every walker
    yields the texts in order and edits nothing itself (a `Text` is set by its reader)."""

    @property
    def name(self) -> str: ...

    def answering(self, request: Any) -> TextFormat | None:
        """This format as it reads the answers to `request` (its parsed body; None when it is not
        JSON): their text as JSON where the request asked for a JSON answer (structured outputs,
        JSON mode), so that it stays valid JSON; else as prose (this format itself). None when its
        answers hold no text at all (embeddings' vectors, speech's audio): they are not read."""
        ...

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]: ...

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]: ...

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        """Feeds one parsed SSE event's text deltas through `pipes`, editing `event` in place;
        returns any event to send before it (what a closed pipe held, where it cannot go in it)."""
        ...

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        """What the pipe at `index` held when the stream ended, as one last event; `last` is the
        last event's payload (its ids, model …)."""
        ...


class RequestOnlyTexts:
    """A format whose answers hold no text (a batch's receipt, vectors): only its requests are read;
    a subclass names itself (`name`) and says what its requests hold (`request_texts`)."""

    name: str

    def answering(self, request: Any) -> None:
        return None

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        raise NotImplementedError

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        return iter(())

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        return b""


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """Where an API's request bodies hold what `usage/tokens.py` counts when it estimates a prompt.

    `turns`: keys of a list of chat turns (counted with each turn's overhead); `text`: keys whose
    values hold text (the walk enters only these); `image_types`: part `type`s counted as one image;
    `media`: keys that make the object holding them one inline image; `schemas`: top-level keys of
    definitions the model reads whole (tools: names, descriptions, parameter schemas), counted as
    their JSON text; `typed_text`: `(type, key)` pairs, an object of that `type` holding text at a
    key that holds none in other objects (an Anthropic `document`'s `title`, which a tool schema's
    or another API's object may hold too and is no prompt there). A type written `outer/inner` is an
    object of type `inner` found under a typed key of an `outer` object (a document's plain-text
    `source`, whose `data` is its text, where a PDF source's is base64). `inner_text`: `(key, inner)`
    pairs, an object at a top-level text `key` holding text at `inner` keys that hold none elsewhere
    (a Hugging Face task's `inputs`: question answering's `question` and `context`). `scoped_text`:
    `(scope, key)` pairs, a top-level key that holds text only in a body its provider read as of
    that scope (`RequestFacts.text_scope`), as `typed_text` holds for an object of one type: a
    Hugging Face model's `inputs`, a prompt or a task's object there, a file in base64 for an image
    or audio task, and no prompt in another provider's body. Any other key counts nothing.
    """

    turns: frozenset[str] = frozenset()
    text: frozenset[str] = frozenset()
    image_types: frozenset[str] = frozenset()
    media: frozenset[str] = frozenset()
    schemas: frozenset[str] = frozenset()
    typed_text: frozenset[tuple[str, str]] = frozenset()
    inner_text: frozenset[tuple[str, str]] = frozenset()
    scoped_text: frozenset[tuple[str, str]] = frozenset()

    def __or__(self, other: TokenKeys) -> TokenKeys:
        """The keys of both (a provider that speaks several APIs, every provider's at once)."""
        return TokenKeys(
            self.turns | other.turns,
            self.text | other.text,
            self.image_types | other.image_types,
            self.media | other.media,
            self.schemas | other.schemas,
            self.typed_text | other.typed_text,
            self.inner_text | other.inner_text,
            self.scoped_text | other.scoped_text,
        )


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def string(owner: Any, key: str | int, role: str, *, json: bool = False) -> Iterator[Text]:
    """`owner[key]` when it is a string (a JSON text with `json`)."""
    try:
        value = owner[key]
    except (KeyError, IndexError, TypeError):
        return
    if isinstance(value, str):
        yield Text(owner, key, role, json)


def json_value(owner: Any, key: str, role: str) -> Iterator[Text]:
    """`owner[key]` when it holds JSON: a JSON text (a string) or a parsed object."""
    value = owner.get(key) if isinstance(owner, dict) else None
    if isinstance(value, str | dict | list):
        yield Text(owner, key, role, json=True)


def text_parts(parts: Any, types: tuple[str, ...], role: str, *, json: bool = False) -> Iterator[Text]:
    """The `text` of each part in a list whose type is one of `types` (a part with no type counts
    as text, as the APIs accept it)."""
    for part in as_list(parts):
        if isinstance(part, dict) and part.get("type", types[0]) in types:
            yield from string(part, "text", role, json=json)


def content(owner: Any, key: str, role: str, types: tuple[str, ...], *, json: bool = False) -> Iterator[Text]:
    """A string at `owner[key]`, or the text parts of a list there (JSON texts with `json`)."""
    value = owner.get(key) if isinstance(owner, dict) else None
    if isinstance(value, str):
        yield Text(owner, key, role, json)
    else:
        yield from text_parts(value, types, role, json=json)


def role_of(item: dict[str, Any], default: str = "user") -> str:
    """The turn's role, with developer instructions as `system` and Gemini's `model` as `assistant`."""
    role = item.get("role", default)
    role = role if isinstance(role, str) else default
    return {"developer": "system", "model": "assistant"}.get(role, role)


def has_list(payload: Any, key: str) -> bool:
    """Whether a parsed request body has a list at `key` (`messages`, `contents`): how an adapter
    tells its API's bodies apart where the path does not."""
    return isinstance(payload, dict) and isinstance(payload.get(key), list)
