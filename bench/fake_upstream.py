"""A fast fake OpenAI upstream for benchmarks (aiohttp low-level server on uvloop, prebuilt bytes).

``POST /v1/chat/completions`` answers a ~1 KB ``chat.completion`` (with usage), or, when the request
body has ``"stream": true``, an SSE stream of ~20 ``chat.completion.chunk`` events, a usage chunk and
``data: [DONE]``. ``GET /healthz`` answers 200; ``GET /stats`` reports how many requests it served
(useful to check that e.g. a cache hit never reached the upstream).

A stream request with ``x-bench-stream-events: N`` gets N events of about 64 KB instead, each
written only when the client (the gateway) has taken the previous ones (backpressure); ``/stats``
says how many bytes of them were handed to the socket (``long_stream_bytes``). The soak uses it to
see whether a reader that stalls makes the gateway buffer the whole answer. A request with
``x-bench-delay-ms: N`` is answered N milliseconds late, as a slow model would be.

Run as a script so that it does not depend on the working directory::

    python bench/fake_upstream.py --host 127.0.0.1 --port 8001
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
import uvloop
from aiohttp import web

MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1_732_000_000
COMPLETION_ID = "chatcmpl-BenchFakeUpstream0000000000000"
FINGERPRINT = "fp_0aa8d3e20b"

ANSWER_PARTS: list[str] = [
    "Start with ",
    "the credentials ",
    "the batch job ",
    "actually uses: ",
    "check the secret store ",
    "entry and the job's ",
    "environment for a stale ",
    "cached password. ",
    "Next, confirm the ",
    "reporting user's password ",
    "was changed in the ",
    "database itself and ",
    "that pg_hba.conf still ",
    "allows that user ",
    "from the batch host. ",
    "Then restart any ",
    "connection pooler, since ",
    "pools keep old sessions, ",
    "and rerun the job ",
    "with verbose logging.",
]
ANSWER = "".join(ANSWER_PARTS)
USAGE: dict[str, object] = {
    "prompt_tokens": 71,
    "completion_tokens": 83,
    "total_tokens": 154,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def _completion() -> bytes:
    return orjson.dumps(
        {
            "id": COMPLETION_ID,
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": ANSWER,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
    )


def _chunk(delta: dict[str, object], finish_reason: str | None = None) -> dict[str, object]:
    return {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        "usage": None,
    }


def _stream_events() -> list[bytes]:
    chunks: list[dict[str, object]] = [_chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [_chunk({"content": part}) for part in ANSWER_PARTS]
    chunks.append(_chunk({}, "stop"))
    usage_chunk = _chunk({})
    usage_chunk["choices"] = []
    usage_chunk["usage"] = USAGE
    chunks.append(usage_chunk)
    events = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
    events.append(b"data: [DONE]\n\n")
    return events


COMPLETION_BODY = _completion()
STREAM_EVENTS = _stream_events()
STREAM_BODY = b"".join(STREAM_EVENTS)
#: The events framed for chunked transfer encoding (size in hex, CRLF, data, CRLF).
STREAM_FRAMES = [b"%x\r\n" % len(e) + e + b"\r\n" for e in STREAM_EVENTS]
JSON_HEADERS = {
    "Content-Type": "application/json",
    "openai-processing-ms": "412",
    "x-request-id": "req_bench",
}
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "openai-processing-ms": "87",
    "x-request-id": "req_bench",
}
NOT_FOUND_BODY = orjson.dumps(
    {
        "error": {
            "message": "Unknown request URL",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }
)
HEALTH_BODY = b'{"status":"ok"}'
LONG_EVENT = b"data: " + orjson.dumps(_chunk({"content": "x" * 65_000})) + b"\n\n"
LONG_HEADER = "x-bench-stream-events"
DELAY_HEADER = "x-bench-delay-ms"  # answer after this many milliseconds (a slow model)


def is_stream_request(body: bytes) -> bool:
    """Cheap check for ``"stream": true`` (no JSON parse): remove spaces, then look for the pair."""
    return b'"stream":true' in body.replace(b" ", b"")


class FakeUpstream:
    def __init__(self, *, single_write_stream: bool = False) -> None:
        self.single_write_stream = single_write_stream
        self.completions = 0
        self.streams = 0
        self.long_stream_bytes = 0

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method == "POST" and path == "/v1/chat/completions":
            body = await request.read()
            if DELAY_HEADER in request.headers:
                await asyncio.sleep(int(request.headers[DELAY_HEADER]) / 1000)
            if is_stream_request(body):
                self.streams += 1
                if LONG_HEADER in request.headers:
                    return await self._long_stream(request, int(request.headers[LONG_HEADER]))
                return await self._stream(request)
            self.completions += 1
            return web.Response(body=COMPLETION_BODY, headers=JSON_HEADERS)
        if path == "/healthz":
            return web.Response(body=HEALTH_BODY, content_type="application/json")
        if path == "/stats":
            stats = {
                "completions": self.completions,
                "streams": self.streams,
                "long_stream_bytes": self.long_stream_bytes,
            }
            return web.Response(body=orjson.dumps(stats), content_type="application/json")
        return web.Response(status=404, body=NOT_FOUND_BODY, content_type="application/json")

    async def _stream(self, request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        if self.single_write_stream:
            await response.write(STREAM_BODY)
        else:
            # One write per event, as a real provider sends them (no delay between them: the
            # benchmark measures the gateway, not a model). The first write goes through aiohttp,
            # which sends the buffered headers with it; the rest are prebuilt chunked-encoding
            # frames written straight to the transport, which costs a third less CPU per stream.
            await response.write(STREAM_EVENTS[0])
            transport = request.transport
            if transport is None:  # the client went away
                return response
            for frame in STREAM_FRAMES[1:]:
                transport.write(frame)
        await response.write_eof()
        return response

    async def _long_stream(self, request: web.BaseRequest, events: int) -> web.StreamResponse:
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        for _ in range(events):
            await response.write(LONG_EVENT)  # returns once the transport's buffer has drained
            self.long_stream_bytes += len(LONG_EVENT)
        await response.write(STREAM_EVENTS[-2])  # the usage chunk
        await response.write(STREAM_EVENTS[-1])
        await response.write_eof()
        return response


async def serve(host: str, port: int, *, single_write_stream: bool) -> None:
    app = FakeUpstream(single_write_stream=single_write_stream)
    server = web.Server(app.handle, access_log=None)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    print(f"fake upstream listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001, help="0 picks a free port (printed)")
    parser.add_argument(
        "--single-write-stream",
        action="store_true",
        help="send each SSE stream in one write instead of one write per event",
    )
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, single_write_stream=args.single_write_stream))


if __name__ == "__main__":
    main()
