"""A stream is masked of stored credentials wherever its chunks split them: an error stream, and
a 200 stream of a step that went on a stored key (an error event may come after content); a
stream on the client's own key is not looked at."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from multidict import CIMultiDict

from sluicegate.credentials import Secrets
from sluicegate.exchange import Reply, RequestPlan, Step
from sluicegate.pipeline import error_echoes
from sluicegate.pipeline.error_echoes import mask_answer_headers, mask_echoed_secrets, scrubbed
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import NO_FACTS, Route
from sluicegate.routing.keypool import KeyRing, PoolKey
from tests.pipeline.stage_parts import ACCOUNT, make_exchange

KEY = "sk-stored-key-0123456789"
ERROR = (
    b'event: error\ndata: {"error": {"message": "bad key Bearer ' + KEY.encode() + b'"}}\n\n'
    b'{"also": "sk-stored-key-0123456789 and sk%2Dstored"}'
)


async def chunks(parts: list[bytes]) -> AsyncGenerator[bytes, None]:
    for part in parts:
        yield part


async def relayed(parts: list[bytes], secrets: Secrets) -> list[bytes]:
    return [chunk async for chunk in scrubbed(chunks(parts), secrets)]


async def test_a_key_split_between_chunks_anywhere_is_masked() -> None:
    secrets = Secrets()
    secrets.add_stored(f"Bearer {KEY}")
    whole = secrets.scrub(ERROR)
    assert KEY.encode() not in whole
    for first in range(1, len(ERROR)):
        for second in (first + 1, first + 7, len(ERROR)):
            parts = [ERROR[:first], ERROR[first:second], ERROR[second:]]
            assert b"".join(await relayed(parts, secrets)) == whole, (first, second)


async def test_an_event_passes_at_its_line_end_not_at_the_streams() -> None:
    secrets = Secrets()
    secrets.add_stored(KEY)
    event = b'data: {"error": "bad key ' + KEY.encode() + b'"}\n\n'
    # The first chunk, a whole event, is relayed whole: a stream held open after it still shows it.
    assert await relayed([event, b"data: more"], secrets) == [
        b'data: {"error": "bad key [redacted]"}\n\n',
        b"data: more",
    ]


async def test_a_key_cut_off_in_a_stream_is_masked_in_a_chunk_and_at_the_streams_end() -> None:
    """A provider may cut the key it quotes; a stream that ends in the start of one (cut off with
    the stream) was held back for a next chunk that never came, and is masked all the same."""
    long_key = "sk-proj-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 4
    secrets = Secrets()
    secrets.add_stored(long_key)
    cut = f'data: {{"error": "bad key {long_key[:40]}…"}}\n\n'.encode()
    ending = f'data: {{"error": "bad key {long_key[:40]}'.encode()
    relayed_chunks = await relayed([cut, ending], secrets)
    assert relayed_chunks[0] == 'data: {"error": "bad key [redacted]…"}\n\n'.encode()
    assert b"".join(relayed_chunks[1:]) == b'data: {"error": "bad key [redacted]'


CONTENT = b'data: {"choices": [{"delta": {"content": "echo: hi"}}]}\n\n'
MID_STREAM = (
    CONTENT + b'data: {"error": {"message": "bad key ' + KEY.encode() + b'", "type": "server_error"}}\n\n'
)


def stored_key_step(tried: bool) -> Step:
    """An OpenAI step that brought no key, with the gateway's stored one; `tried`: a try went with it."""
    step = Step(REGISTRY["openai"], Route(ACCOUNT, "chat/completions"), CIMultiDict(), b"", NO_FACTS)
    step.keys = KeyRing("local/main/openai", (PoolKey(name="default"),), {"default": KEY})
    step.key_name = "default" if tried else None
    return step


async def answered(step: Step, parts: list[bytes]) -> list[bytes]:
    """What the client gets of a 200 stream of `parts`, answered by `step`."""
    exchange = make_exchange()
    exchange.plan = RequestPlan(b"", [step])
    reply = Reply(200, CIMultiDict({"Content-Type": "text/event-stream"}), stream=chunks(parts))
    mask_echoed_secrets(exchange, reply)
    assert reply.stream is not None
    return [chunk async for chunk in reply.stream]


async def test_a_stored_key_split_between_two_chunks_of_a_200_stream_is_masked() -> None:
    masked = MID_STREAM.replace(KEY.encode(), b"[redacted]")
    at = MID_STREAM.index(KEY.encode()) + len(KEY) // 2
    got = await answered(
        stored_key_step(tried=True), [CONTENT, MID_STREAM[len(CONTENT) : at], MID_STREAM[at:]]
    )
    assert b"".join(got) == masked
    # The content went at once, and the error's start only up to where the key might begin.
    assert got[0] == CONTENT
    assert got[1] == MID_STREAM[len(CONTENT) : MID_STREAM.index(KEY.encode())]
    # A stream no try went with a stored key for (a cached answer) is not even wrapped.
    exchange = make_exchange()
    exchange.plan = RequestPlan(b"", [stored_key_step(tried=False)])
    stream = chunks([MID_STREAM])
    reply = Reply(200, CIMultiDict(), stream=stream)
    mask_echoed_secrets(exchange, reply)
    assert reply.stream is stream


async def test_a_chunk_that_ends_mid_line_is_held_only_from_where_a_key_could_start() -> None:
    secrets = Secrets()
    secrets.add_stored(KEY)
    # `data: [DO` cannot start the key: it goes at once; `… sk-sto` can: it waits for the next chunk.
    assert await relayed([b"data: [DO", b"NE]\n\n"], secrets) == [b"data: [DO", b"NE]\n\n"]
    assert await relayed([b'{"m": "x sk-sto', b'red"}'], secrets) == [b'{"m": "x ', b'sk-stored"}']


TITLE, SITE = "Acme Support Assistant", "https://acme.example.com"
SAID = f'data: {{"choices": [{{"delta": {{"content": "I am the {TITLE} of {SITE}"}}}}]}}\n\n'.encode()


def custom_step() -> Step:
    """A custom provider's step with its stored headers: a key, and OpenRouter's two attribution
    headers (no credentials: configuration), as `InjectKeys` sets them."""
    step = Step(REGISTRY["openai"], Route(ACCOUNT, "chat/completions"), CIMultiDict(), b"", NO_FACTS)
    step.stored_headers = (("Authorization", f"Bearer {KEY}"), ("X-Title", TITLE), ("HTTP-Referer", SITE))
    return step


async def test_a_custom_providers_stored_title_is_masked_in_an_error_answer_but_not_in_the_models_text() -> (
    None
):
    # A 200 stream: the model's text saying the title and site goes as it was, the key does not.
    got = b"".join(await answered(custom_step(), [SAID, MID_STREAM]))
    assert got == SAID + MID_STREAM.replace(KEY.encode(), b"[redacted]")
    # An error answer quoting them is masked of every stored value, each whole: `Support
    # Assistant`, the title past its first space, is no credential after a scheme.
    exchange = make_exchange()
    exchange.plan = RequestPlan(b"", [custom_step()])
    body = f'{{"error": "bad X-Title {TITLE} from {SITE} with {KEY}; Support Assistant"}}'.encode()
    reply = Reply(400, CIMultiDict(), body=body)
    mask_echoed_secrets(exchange, reply)
    assert (
        reply.body
        == b'{"error": "bad X-Title [redacted] from [redacted] with [redacted]; Support Assistant"}'
    )


POOL = {f"k{i}": f"sk-pool-key-{i:02d}-0123456789" for i in range(50)}


async def test_an_answer_is_searched_for_the_key_its_try_used_an_error_for_the_whole_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Masking costs a search per stored credential: a header of every answer, a 200 stream's every
    # chunk. Both are one try's answer, which only that try's key can be in; an error answer may be
    # the gateway's own (after the tries of several keys), so it is searched for each.
    searched: list[str] = []

    class Recording(Secrets):
        def add_stored(self, value: str, header: str | None = None) -> None:
            searched.append(value)
            super().add_stored(value, header)

    monkeypatch.setattr(error_echoes, "Secrets", Recording)
    step = Step(REGISTRY["openai"], Route(ACCOUNT, "chat/completions"), CIMultiDict(), b"", NO_FACTS)
    step.keys = KeyRing("local/main/openai", tuple(PoolKey(name=name) for name in POOL), POOL)
    step.key_name = "k7"
    used, other = POOL["k7"], POOL["k3"]
    reply = Reply(200, CIMultiDict({"x-debug-key": f"Bearer {used}", "x-request-id": "req_1"}), body=b"{}")
    mask_answer_headers(step, reply)
    assert (reply.headers["x-debug-key"], searched) == ("Bearer [redacted]", [used])
    searched.clear()
    event = b'data: {"error": {"message": "bad key ' + used.encode() + b'"}}\n\n'
    assert await answered(step, [CONTENT, event]) == [CONTENT, event.replace(used.encode(), b"[redacted]")]
    assert searched == [used]
    searched.clear()
    exchange = make_exchange()
    exchange.plan = RequestPlan(b"", [step])
    refused = Reply(401, CIMultiDict(), body=f"bad keys {other}, {used}".encode())
    mask_echoed_secrets(exchange, refused)
    assert (refused.body, sorted(searched)) == (b"bad keys [redacted], [redacted]", sorted(POOL.values()))


async def test_a_jwt_or_a_name_flagged_value_the_model_writes_the_start_of_passes_whole() -> None:
    """A stored JWT starts as every JWT does, and a header flagged a credential only by its name
    (`X-Session-Cluster`) holds no key: a model's text sharing their start is not cut-masked."""
    jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0ZW5hbnQiOiJhY21lIn0.c2lnbmF0dXJlLW9mLWFjbWU"
    example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fw"
    step = Step(REGISTRY["openai"], Route(ACCOUNT, "chat/completions"), CIMultiDict(), b"", NO_FACTS)
    step.stored_headers = (("Authorization", f"Bearer {jwt}"), ("X-Session-Cluster", "us-east-1-cluster-a"))
    said = f'data: {{"choices": [{{"delta": {{"content": "e.g. {example} on us-east-1-cluster-b"}}}}]}}\n\n'
    assert await answered(step, [said.encode()]) == [said.encode()]
    echoed = f'data: {{"error": "bad token {jwt} for us-east-1-cluster-a"}}\n\n'.encode()
    assert await answered(step, [echoed]) == [b'data: {"error": "bad token [redacted] for [redacted]"}\n\n']
