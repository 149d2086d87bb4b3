"""A one-connection HTTP/1.1 client that times the first byte of an answer's body.

wrk reports whole responses only; a streaming client waits for the first SSE event before it can
show anything. :class:`FirstByteClient` sends a prebuilt request on one keep-alive socket and
times, from the request's first byte sent, when the body's first bytes arrived (for an SSE answer:
when the first ``data:`` had arrived) and when the answer ended; h11 parses the answer (chunked or
with a ``Content-Length``) as its bytes arrive. Every answer is read to its end before the next
request; a non-2xx answer, a closed connection or a malformed one raises :class:`FirstByteError`.

``python -m bench.first_byte URL`` times a few requests against a running server by hand.
"""

from __future__ import annotations

import argparse
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from bench.scenarios import DEFAULT_HEADERS, chat_body
from bench.timings import percentiles

SSE_EVENT = b"data:"
RECV_BYTES = 65536


class FirstByteError(RuntimeError):
    """An answer that cannot be measured: non-2xx, connection lost, or not HTTP/1.1 keep-alive."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    #: Seconds from sending the request until the body's first bytes (an SSE answer's first
    #: ``data:``) had arrived.
    first_byte_s: float
    #: Seconds from sending the request until the answer's last byte had arrived.
    whole_s: float
    #: The body, de-chunked.
    body: bytes


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request made once and sent as often as asked: its bytes, and its head for the parser."""

    head: h11.Request
    wire: bytes


def build_request(url: str, body: bytes, headers: dict[str, str]) -> Prepared:
    """A keep-alive ``POST`` of ``body`` to ``url``."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    fields = [("Host", parts.netloc), ("Content-Length", str(len(body))), *headers.items()]
    head = h11.Request(method="POST", target=target, headers=fields)
    writer = h11.Connection(h11.CLIENT)
    wire = b"".join(writer.send(event) or b"" for event in (head, h11.Data(data=body), h11.EndOfMessage()))
    return Prepared(head, wire)


class FirstByteClient:
    """One keep-alive connection to ``host:port``; :meth:`ask` sends a request and times its answer
    (the answer parsed by h11 as its bytes arrive)."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.where = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise FirstByteError(f"cannot connect to {self.where}: {exc}") from exc
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> FirstByteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ask(self, request: Prepared, *, sse: bool) -> Answer:
        """Send ``request`` and read its answer to the end. ``sse``: the first byte is the body's
        first ``data:`` rather than its first byte of any kind."""
        marker = SSE_EVENT if sse else b""
        answer = h11.Connection(h11.CLIENT)  # one answer's parser; the socket is what is kept alive
        answer.send(request.head)
        body = bytearray()
        status = 0
        first: float | None = None
        started = received_at = time.perf_counter()
        try:
            self._sock.sendall(request.wire)
            while True:
                event = answer.next_event()
                if event is h11.NEED_DATA:
                    data = self._sock.recv(RECV_BYTES)
                    received_at = time.perf_counter()
                    answer.receive_data(data)
                    if not data:
                        raise FirstByteError(f"{self.where} closed the connection in the middle of an answer")
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.Data):
                    body += event.data
                    if first is None and marker in body:
                        first = received_at
                elif isinstance(event, h11.EndOfMessage):
                    break
        except h11.RemoteProtocolError as exc:
            raise FirstByteError(f"{self.where} sent a malformed answer: {exc}") from exc
        except OSError as exc:
            raise FirstByteError(f"{self.where}: {exc}") from exc
        if not 200 <= status < 300:
            raise FirstByteError(f"{self.where} answered HTTP {status}: {bytes(body[:300])!r}")
        if answer.their_state is h11.MUST_CLOSE:
            raise FirstByteError(f"{self.where} closed the connection after its answer (not keep-alive)")
        if first is None:
            raise FirstByteError(
                f"{self.where} answered no {marker.decode() or 'body'}: {bytes(body[:200])!r}"
            )
        return Answer(status, first - started, received_at - started, bytes(body))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="a chat completions URL, e.g. http://127.0.0.1:8001/v1/chat/completions")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    where = urlsplit(args.url)
    with FirstByteClient(where.hostname or "127.0.0.1", where.port or 80) as client:
        for label, body, sse in (("stream", chat_body(stream=True), True), ("plain", chat_body(), False)):
            request = build_request(args.url, body, DEFAULT_HEADERS)
            answers = [client.ask(request, sse=sse) for _ in range(args.requests)]
            first = percentiles([a.first_byte_s * 1000 for a in answers])
            whole = percentiles([a.whole_s * 1000 for a in answers])
            print(
                f"{label}: first byte p50 {first['p50_ms']:.3f} ms p99 {first['p99_ms']:.3f} ms; "
                f"whole p50 {whole['p50_ms']:.3f} ms p99 {whole['p99_ms']:.3f} ms ({args.requests} requests)"
            )


if __name__ == "__main__":
    main()
