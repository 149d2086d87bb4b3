"""The usage chunk the gateway asks for when a chat stream's client did not (pipeline/stream_usage.py):
the request that asks for it (`asking_usage`) and the stream without it (`WithoutUsageChunk`), which
leaves every other byte as it came however the stream is cut into chunks."""

from __future__ import annotations

import itertools

import orjson
import pytest

from sluicegate.providers.openai_stream import WithoutUsageChunk, asking_usage

HEAD = b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m"'
CONTENT = b"data: {" + HEAD + b',"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}\n\n'
FINISH = b"data: {" + HEAD + b',"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
USAGE = b"data: {" + HEAD + b',"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1,"cost":0.5}}\n\n'
DONE = b"data: [DONE]\n\n"
KEEP_ALIVE = b": OPENROUTER PROCESSING\n\n"


def relayed(stream: bytes, cuts: list[int]) -> bytes:
    strip = WithoutUsageChunk()
    bounds = [0, *cuts, len(stream)]
    out = [strip.feed(stream[a:b]) for a, b in itertools.pairwise(bounds)]
    return b"".join(out) + strip.close()


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_the_usage_chunk_alone_is_taken_out_wherever_the_stream_is_cut(crlf: bool) -> None:
    events = [KEEP_ALIVE, CONTENT, FINISH, USAGE, DONE]
    if crlf:
        events = [event.replace(b"\n", b"\r\n") for event in events]
    stream = b"".join(events)
    expected = stream.replace(events[3], b"")
    for cut in range(len(stream) + 1):
        assert relayed(stream, [cut]) == expected, cut
    for cut in range(0, len(stream), 7):
        assert relayed(stream, [cut, min(cut + 3, len(stream))]) == expected, cut


def test_a_stream_without_a_usage_chunk_passes_as_it_came() -> None:
    stream = KEEP_ALIVE + CONTENT + FINISH + DONE
    assert relayed(stream, []) == stream
    assert relayed(stream, [5, 90]) == stream
    unfinished = CONTENT + b'data: {"choices":'  # cut short upstream: the rest still goes on at the end
    assert relayed(unfinished, [10]) == unfinished


def test_a_usage_object_on_a_chunk_with_choices_stays() -> None:
    # Perplexity's chunks each carry usage beside their choices: not a usage chunk.
    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":1}}\n\n'
    assert relayed(chunk + DONE, [3]) == chunk + DONE


def test_in_one_read_only_the_usage_chunk_goes_whatever_else_mentions_usage() -> None:
    # Under load one read holds a whole stream: chunks with usage beside choices, a model that
    # writes a usage object as text, and the usage chunk itself.
    quoted = (
        b'data: {"choices":[{"index":0,"delta":{"content":"\\"usage\\": {\\"a\\":1}"}}],"usage":null}\n\n'
    )
    perplexity = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":1}}\n\n'
    stream = quoted + perplexity + CONTENT + USAGE + DONE
    assert relayed(stream, []) == quoted + perplexity + CONTENT + DONE
    assert relayed(USAGE + USAGE + CONTENT, []) == CONTENT
    spaced = USAGE.replace(b'"choices":[]', b'"choices" :  [ \t]')  # any JSON spacing
    assert relayed(CONTENT + spaced + DONE, [len(CONTENT)]) == CONTENT + DONE


def test_a_request_without_stream_options_gets_them_first_and_keeps_its_bytes() -> None:
    body = b'{ "model": "gpt-4o-mini",\n  "stream": true, "messages": [] }'
    asked = asking_usage(body, orjson.loads(body))
    assert asked == b'{"stream_options":{"include_usage":true},' + body[1:]
    assert orjson.loads(asked)["stream_options"] == {"include_usage": True}


def test_stream_options_of_the_clients_own_keep_their_other_fields() -> None:
    body = b'{"model":"m","stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false}}'
    asked = asking_usage(body, orjson.loads(body))
    assert asked is not None
    assert orjson.loads(asked) == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True, "include_obfuscation": False},
    }
    already = b'{"model":"m","stream":true,"stream_options":{"include_usage":true}}'
    assert asking_usage(already, orjson.loads(already)) is None
